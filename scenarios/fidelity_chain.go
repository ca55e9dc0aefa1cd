package scenarios

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/strategies"
)

func init() { namedSets = append(namedSets, chainNamed) }

// chainNamed is the fidelity set of the chain workload (Orders -> Payments -> Shipping): the
// payment service's shipment rides in its payment's transaction, so a crash, a lost COMMIT reply
// or a cut link takes both or neither, and a duplicate payment re-emits the same shipment. Every
// name starts with "chain", so that a run can pick them out (-run 'TestFidelity/chain').
func chainNamed() []Named {
	at := func(kind, target, point string) history.Fault {
		return history.Fault{Kind: kind, Target: target, Point: point, Nth: 1}
	}
	chain := workload.Chain.Name
	cmds := func(n int) []history.Message { return Commands(NewSeedSource(0), chain, n, 1) }
	return []Named{
		named("chain: outbox and inbox pay once and ship once", nil, "outbox", "inbox", chain, fault.None, cmds(3)),
		named("chain: naive pays twice after a lost ack, and re-emits the same shipment", []invariants.Name{invariants.NoDuplicateEffect},
			"outbox", "naive", chain, fault.LostAck, cmds(1), at(fault.LostAck, "consumer-1", "")),
		named("chain: inbox dies before its commit, and no shipment is out for the payment that died with it", nil,
			"outbox", "inbox", chain, fault.CrashConsumer, cmds(1), at(fault.CrashConsumer, "consumer-1", strategies.PointConsumerBeforeCommit)),
		named("chain: an unanswered commit makes naive pay twice, both payments with the same shipment", []invariants.Name{invariants.NoDuplicateEffect},
			"outbox", "naive", chain, fault.AmbiguousCommit, cmds(1), at(fault.AmbiguousCommit, "consumer-1", "")),
		named("chain: a cut with the middle service's COMMIT in flight, and inbox holds", nil,
			"outbox", "inbox", chain, fault.PartitionDB, cmds(1),
			history.Fault{Kind: fault.PartitionDB, Target: "consumer-1", Point: fault.SiteCommit, Nth: 1, Duration: 5}),
		named("chain: ack first loses the payment and its shipment together when it dies after its ack", []invariants.Name{invariants.NoLostEffect},
			"outbox", "ack-first", chain, fault.CrashConsumer, cmds(1), at(fault.CrashConsumer, "consumer-1", strategies.PointConsumerAfterAck)),
		named("chain: the relay's second publish is paid once by the inbox and shipped once", nil,
			"outbox", "inbox", chain, fault.CrashRelay, cmds(1), at(fault.CrashRelay, "relay", strategies.PointRelayAfterPublish)),
	}
}
