package scenarios

import (
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
)

// The fidelity scenarios of the relays that read by position (catalogue_relays.go): the offset
// relay's lost row (Watermill issue 311), the fence that keeps it (watermill-sql v4), the order the
// fence publishes in, and event sourcing's subscriber.
func init() {
	namedSets = append(namedSets, relayNamed)
}

func relayNamed() []Named {
	// The first producer's COMMIT of its nth command is held until the second producer's event
	// reached the broker (or the commit timeout passed): ids commit out of order.
	interleave := func(nth int) history.Fault {
		return history.Fault{Kind: "concurrent-producers", Target: "producer", Nth: nth}
	}
	crashAfterPublish := history.Fault{Kind: "crash-relay", Target: "relay", Point: "relay.after-publish", Nth: 1}
	return []Named{
		named("the offset relay skips the row two producers commit out of id order", []invariants.Name{invariants.NoLostEffect}, "outbox-offset", "inbox", workload.Orders.Name, "concurrent-producers", orders(2),
			interleave(1)),
		named("the fenced relay waits for the older transaction and loses nothing", nil, "outbox-fenced", "inbox", workload.Orders.Name, "concurrent-producers", orders(2),
			interleave(1)),
		named("the fenced relay publishes in transaction-id order, and natural ends on the older price", []invariants.Name{invariants.Converges}, "outbox-fenced", "natural", workload.Prices.Name, "concurrent-producers", prices(3),
			interleave(2)),
		named("the claiming relay publishes the same schedule in commit order, and natural converges", nil, "outbox", "natural", workload.Prices.Name, "concurrent-producers", prices(3),
			interleave(2)),
		named("the offset relay publishes twice when it dies before its cursor commits", []invariants.Name{invariants.NoDuplicateEffect}, "outbox-offset", "naive", workload.Orders.Name, "crash-relay", orders(1),
			crashAfterPublish),
		named("event sourcing's subscriber publishes twice when it dies before its position commits", []invariants.Name{invariants.NoDuplicateEffect}, "event-sourcing", "naive", workload.Orders.Name, "crash-relay", orders(1),
			crashAfterPublish),
		named("inbox absorbs the event store subscriber's second publish", nil, "event-sourcing", "inbox", workload.Credits.Name, "crash-relay", Commands(NewSeedSource(0), workload.Credits.Name, 2, 1),
			crashAfterPublish),
		named("the event store's fenced subscriber loses nothing when two producers commit out of order", nil, "event-sourcing", "inbox", workload.Orders.Name, "concurrent-producers", orders(2),
			interleave(1)),
	}
}
