package workload

import "fmt"

// Orders: an order service places orders and publishes OrderPlaced; a payment service charges
// each order once. Every order is its own key.
var Orders = Workload{
	Name:   "orders",
	Doc:    "OrderPlaced -> one payment per order",
	Effect: Append,
	Event:  "OrderPlaced",
	Words:  Words{Command: "order", Applied: "paid", Rows: "payments"},
	command: func(_ Source, i, _ int) Command {
		id := fmt.Sprintf("order-%d", i)
		return Command{ID: id, Key: id, Amount: int64(10 * i)}
	},
}
