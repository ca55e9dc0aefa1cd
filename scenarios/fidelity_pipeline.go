package scenarios

import (
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
)

// The fidelity scenarios of the outbox relay's overlap (strategies.Outbox.RelayPass): it claims
// and publishes the next batch while the broker confirms the last one, so a fault can find two
// batches in flight. A batch behind one that failed is rolled back and published again after
// it, in claim order.
func init() {
	namedSets = append(namedSets, pipelineNamed)
}

func pipelineNamed() []Named {
	return []Named{
		named("a missing confirm sends the relay's batches again in claim order, and natural ends on the newest price", nil, "outbox", "natural", workload.Prices.Name, "lost-confirm", prices(3),
			history.Fault{Kind: "lost-confirm", Target: "relay", Nth: 1}),
		named("the relay dies with its batches unmarked and publishes them again, and naive pays twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "naive", workload.Orders.Name, "crash-relay", orders(3),
			history.Fault{Kind: "crash-relay", Target: "relay", Point: "relay.after-publish", Nth: 1}),
		named("the inbox absorbs every batch the relay publishes again", nil, "outbox", "inbox", workload.Credits.Name, "crash-relay", Commands(NewSeedSource(0), workload.Credits.Name, 3, 1),
			history.Fault{Kind: "crash-relay", Target: "relay", Point: "relay.after-publish", Nth: 1}),
	}
}
