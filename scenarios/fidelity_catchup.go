package scenarios

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
)

func init() { namedSets = append(namedSets, catchUpNamed) }

// catchUpNamed is the fidelity set of the new-subscriber fault (seed 001's catch-up): a new
// service subscribes at the publisher's second publish of three and replays the outbox before its
// live deliveries. With a relay the second row is both replayed and delivered live (its publish
// is the binding's), whatever the timing: the overlap is certain. Every name says "new
// subscriber", so that a run can pick them out (-run 'TestFidelity/.*new_subscriber').
func catchUpNamed() []Named {
	at := func(target string) history.Fault {
		return history.Fault{Kind: fault.NewSubscriber, Target: target, Nth: 2}
	}
	credits := Commands(NewSeedSource(0), workload.Credits.Name, 3, 1)
	dup := []invariants.Name{invariants.NoDuplicateEffect}
	return []Named{
		named("a new subscriber pays twice where the outbox replay and the live stream meet", dup,
			"outbox", "naive", workload.Orders.Name, fault.NewSubscriber, orders(3), at("relay")),
		named("a new subscriber with an inbox pays once across the replay and the live stream", nil,
			"outbox", "inbox", workload.Orders.Name, fault.NewSubscriber, orders(3), at("relay")),
		named("the redelivered flag lets the new subscriber's replayed copy and live copy both through", dup,
			"outbox", "redelivered-flag", workload.Orders.Name, fault.NewSubscriber, orders(3), at("relay")),
		named("a new subscriber never gets what double write published before it came", []invariants.Name{invariants.NoLostEffect},
			"double-write", "inbox", workload.Orders.Name, fault.NewSubscriber, orders(3), at("producer")),
		named("a new subscriber credits twice where the log tailer's live stream meets the replay", []invariants.Name{invariants.NoDuplicateEffect, invariants.Balance},
			"log-tailing", "naive", workload.Credits.Name, fault.NewSubscriber, credits, at("relay")),
		named("a new subscriber's natural credits stay right across the replay and the live stream", nil,
			"log-tailing", "natural", workload.Credits.Name, fault.NewSubscriber, credits, at("relay")),
		named("a new subscriber's idempotency key sends each welcome email once across the replay", nil,
			"outbox", "idempotency-key", workload.Emails.Name, fault.NewSubscriber, emails(3), at("relay")),
	}
}
