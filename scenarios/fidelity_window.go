package scenarios

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/strategies"
)

func init() { namedSets = append(namedSets, windowNamed) }

// windowNamed is the fidelity set of the dedup window (the dedup-window consumer) and of the
// late-redelivery fault: a copy past the window slips through it and not through the inbox, and
// a copy inside the window is refused. Every name says "window", so that a run can pick them out
// (-run 'TestFidelity/.*window').
func windowNamed() []Named {
	at := func(kind, target, point string) history.Fault {
		return history.Fault{Kind: kind, Target: target, Point: point, Nth: 1}
	}
	lateConsumer := at(fault.LateRedelivery, "consumer-1", strategies.PointConsumerAfterEffect)
	lateRelay := at(fault.LateRedelivery, "relay", strategies.PointRelayAfterPublish)
	dup := []invariants.Name{invariants.NoDuplicateEffect}
	return []Named{
		named("the dedup window pays twice when the consumer is back after the window", dup,
			"double-write", "dedup-window", workload.Orders.Name, fault.LateRedelivery, orders(1), lateConsumer),
		named("the inbox pays once when the consumer is back after the window", nil,
			"double-write", "inbox", workload.Orders.Name, fault.LateRedelivery, orders(1), lateConsumer),
		named("the dedup window pays twice when the relay republishes after the window", dup,
			"outbox", "dedup-window", workload.Orders.Name, fault.LateRedelivery, orders(1), lateRelay),
		named("the inbox absorbs the relay's republish after the window", nil,
			"outbox", "inbox", workload.Orders.Name, fault.LateRedelivery, orders(1), lateRelay),
		named("the dedup window pays once when the consumer is back inside the window", nil,
			"double-write", "dedup-window", workload.Orders.Name, fault.CrashConsumer, orders(1),
			at(fault.CrashConsumer, "consumer-1", strategies.PointConsumerAfterEffect)),
		named("the dedup window absorbs the relay's second publish inside the window", nil,
			"outbox", "dedup-window", workload.Orders.Name, fault.CrashRelay, orders(1),
			at(fault.CrashRelay, "relay", strategies.PointRelayAfterPublish)),
		named("the dedup window credits once after a lost ack, the redelivery inside the window", nil,
			"outbox", "dedup-window", workload.Credits.Name, fault.LostAck, Commands(NewSeedSource(0), workload.Credits.Name, 2, 1),
			history.Fault{Kind: fault.LostAck, Target: "consumer-1", Nth: 1}),
		// The window outlasts the clients' own timeouts (1 s on real servers): the redelivery
		// after a COMMIT whose reply never came, and the relay's retry after a lost confirm,
		// arrive inside it on both backends.
		named("the dedup window pays once after its COMMIT reply is lost, the redelivery inside the window", nil,
			"outbox", "dedup-window", workload.Orders.Name, fault.AmbiguousCommit, orders(1),
			history.Fault{Kind: fault.AmbiguousCommit, Target: "consumer-1", Nth: 1}),
		named("the dedup window absorbs the relay's retry after a lost confirm, inside the window", nil,
			"outbox", "dedup-window", workload.Orders.Name, fault.LostConfirm, orders(1),
			history.Fault{Kind: fault.LostConfirm, Target: "relay", Nth: 1}),
	}
}
