package workload

import "fmt"

// Chain: a consumer that also publishes. An order service publishes OrderPlaced; the payment
// service (the consumer strategy under test, the middle of the chain) charges each order once
// and, in the same transaction as the payment and its inbox record, appends ShipmentRequested to
// its own outbox; a relay publishes that outbox to a second queue and a shipping service records
// what arrives. Every order is its own key, as in Orders.
var Chain = Workload{
	Name:       "chain",
	Doc:        "OrderPlaced -> one payment per order, which emits ShipmentRequested from its own outbox to a shipping service",
	Effect:     Append,
	Event:      "OrderPlaced",
	Downstream: ShipmentRequested,
	Words:      Words{Command: "order", Applied: "paid", Rows: "payments"},
	command: func(_ Source, i, _ int) Command {
		id := fmt.Sprintf("order-%d", i)
		return Command{ID: id, Key: id, Amount: int64(10 * i)}
	},
}

// ShipmentRequested is the event the chain's middle service emits for each payment.
const ShipmentRequested = "ShipmentRequested"

// Output is the downstream message the chain's middle service emits for the upstream message
// (id, amount): derived from the input alone, so that processing a duplicate again emits the
// same message, same id and same content. Its key is the upstream message's id, the order it
// ships: what traces a downstream message back to the effect it follows from.
func Output(id string, amount int64) Command {
	return Command{ID: "ship-" + id, Key: id, Amount: amount, Seq: 1, Kind: ShipmentRequested}
}
