package scenarios

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/strategies"
)

func init() { namedSets = append(namedSets, bufferNamed) }

// bufferNamed is the fidelity set of the dedup-buffer producer (seed 004's sender-side
// buffering): the repeat of a put whose COMMIT took effect is dropped, and what the relay
// publishes again after the buffer is not. Every name says "buffer", so that a run can pick them
// out (-run 'TestFidelity/.*buffer').
func bufferNamed() []Named {
	at := func(kind, target, point string) history.Fault {
		return history.Fault{Kind: kind, Target: target, Point: point, Nth: 1}
	}
	dup := []invariants.Name{invariants.NoDuplicateEffect}
	return []Named{
		// The COMMIT reaches the server, the reply is lost with the cut link; the producer
		// retries 10 ms later, within the period, and its put finds the entry.
		named("the buffer drops the retried put of a COMMIT a cut link answered for", nil,
			"dedup-buffer", "naive", workload.Orders.Name, fault.PartitionDB, orders(1),
			history.Fault{Kind: fault.PartitionDB, Target: "producer", Point: fault.SiteCommit, Nth: 1, Duration: 5}),
		// The reply never comes: the producer retries after its COMMIT timeout (50 ms simulated,
		// within the period; 1 s on real servers, past it, where the business row's key stops it).
		named("the buffer's producer retries an unanswered COMMIT and pays once", nil,
			"dedup-buffer", "naive", workload.Orders.Name, fault.AmbiguousCommit, orders(1),
			history.Fault{Kind: fault.AmbiguousCommit, Target: "producer", Nth: 1}),
		named("the buffer's relay publishes twice when it dies before marking", dup,
			"dedup-buffer", "naive", workload.Orders.Name, fault.CrashRelay, orders(1),
			at(fault.CrashRelay, "relay", strategies.PointRelayAfterPublish)),
		named("the buffer's relay publishes twice after a lost confirm", dup,
			"dedup-buffer", "naive", workload.Orders.Name, fault.LostConfirm, orders(1),
			history.Fault{Kind: fault.LostConfirm, Target: "relay", Nth: 1}),
		named("the buffer's relay republishes past the period, and naive pays twice", dup,
			"dedup-buffer", "naive", workload.Orders.Name, fault.LateRedelivery, orders(1),
			at(fault.LateRedelivery, "relay", strategies.PointRelayAfterPublish)),
		named("inbox absorbs the buffer's relay's second publish", nil,
			"dedup-buffer", "inbox", workload.Orders.Name, fault.CrashRelay, orders(1),
			at(fault.CrashRelay, "relay", strategies.PointRelayAfterPublish)),
		// On NATS the stream's duplicate window (strategies.Window) sits after the buffer's relay:
		// it drops the relay's republish within the window, and not one past it.
		onNATS(named("on NATS the duplicate window drops the buffer's relay's republish", nil,
			"dedup-buffer", "naive", workload.Orders.Name, fault.CrashRelay, orders(1),
			at(fault.CrashRelay, "relay", strategies.PointRelayAfterPublish))),
		onNATS(named("on NATS the buffer's relay back after the window publishes again, and naive pays twice", dup,
			"dedup-buffer", "naive", workload.Orders.Name, fault.LateRedelivery, orders(1),
			at(fault.LateRedelivery, "relay", strategies.PointRelayAfterPublish))),
	}
}
