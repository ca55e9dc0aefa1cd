package scenarios

import (
	"fmt"

	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// The chain workload's cells (Orders -> Payments -> Shipping). The consumer strategy under test
// is the payment service. Its payment is an append effect, so the rules by effect kind
// (producerTable, consumerTable, breaks) give the chain's cells the orders cells' breaks of
// no-duplicate-effect, no-lost-effect and no-phantom-effect, for the same reasons. The chain's
// own invariants never break in a catalogue cell, and each cell says why:
//
//   - no-ghost-message: every catalogue consumer performs its effect through a transaction of its
//     store (Apply, ApplyIdempotent, ApplyVersioned), and a chain run appends ShipmentRequested to
//     the payment service's own outbox in that same transaction (component.ChainStore). The row
//     commits with the payment or not at all, whatever the fault does to the transaction (a
//     crash before the COMMIT, a lost reply, a cut link, a rollback), and the relay publishes
//     only committed rows. A middle service that emits in a transaction of its own, before its
//     effect's, emits a ghost when that effect then fails to commit: the team-style emitFirst
//     consumer of the chain tests (scenarios and harness/real) shows the harness finds it.
//   - same-output: the downstream message is a function of the upstream one alone
//     (workload.Output: ship-<order id>, the order's amount), so whatever a consumer applies
//     again (the duplicate payments the orders rules expect) it emits again identically, and the
//     shipping service's inbox takes it once. A middle service that derives its output from
//     anything else (the time, a counter, the delivery) emits a different message for the
//     duplicate: the team-style freshID consumer shows the harness finds that.
//
// A claim that these hold is, as everywhere, within the generator's bounds (Limits).

// chainNotes are the reasons of a chain cell's own invariants: why each holds for its consumer
// under its fault; set is what the cell's other lines break.
func chainNotes(c result.Cell, set map[invariants.Name]bool) []string {
	w, err := workload.Lookup(c.Workload)
	if err != nil || w.Downstream == "" {
		return nil
	}
	how, ok := chainApply[c.Consumer]
	if !ok {
		how = "applies the payment through a transaction of its store"
	}
	ghost := fmt.Sprintf("no-ghost-message holds: %s %s, and the chain appends %s to the payment service's own outbox in that transaction (component.ChainStore): under %s the row commits with the payment or not at all, and the relay publishes only committed rows", c.Consumer, how, w.Downstream, c.Fault)
	again := "every processing"
	if set[invariants.NoDuplicateEffect] {
		again = "the duplicate payments expected here, like every processing,"
	}
	if re, ok := chainReemit[c.Consumer]; ok {
		again = re
	}
	same := fmt.Sprintf("same-output holds: %s is derived from the order alone (workload.Output: its id ship-<order id>, the order's amount), so %s emits the same message, and the shipping service's inbox takes it once", w.Downstream, again)
	return []string{ghost, same}
}

// chainApply is how each catalogue consumer performs its effect: the transaction the emission
// joins.
var chainApply = map[string]string{
	"naive":            "applies the payment in a transaction it commits before the ack",
	"ack-first":        "acks first, then applies the payment in a transaction of its own (a crash after the ack loses payment and emission together)",
	"inbox":            "applies the payment in the transaction of its inbox record",
	"inbox-racy":       "applies the payment and records it in one transaction after a separate check",
	"natural":          "applies the payment as an upsert on the order id in a transaction",
	"redelivered-flag": "applies the payment and records it in one transaction",
	"versioned":        "applies the payment in the transaction of its version row, and emits only when it applied",
	"idempotency-key":  "applies the payment keyed by the event id in a transaction",
	"dedup-window":     "applies the payment in the transaction of its message-store record",
}

// chainReemit is, for consumers that emit again on a repeat they do not apply again, what the
// same-output line says.
var chainReemit = map[string]string{
	"natural":         "a duplicate, whose upsert writes nothing, still emits, and emits the same message as the first processing",
	"idempotency-key": "a duplicate, whose keyed write writes nothing, still emits, and emits the same message as the first processing",
	"versioned":       "a duplicate, whose version is not newer, emits nothing, and every processing that applies",
}
