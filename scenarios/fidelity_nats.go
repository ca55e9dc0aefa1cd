package scenarios

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/strategies"
)

// The fidelity scenarios of NATS JetStream (catalogue_nats.go): what the stream's duplicate
// window absorbs (a publisher's retry after a lost confirm, a relay's republish after a crash),
// what it does not (a redelivery to a consumer, a republish after the window), that an inbox still
// absorbs the redeliveries, and a redelivery that comes after the ack wait, behind a newer event.

func init() { namedSets = append(namedSets, natsNamed) }

// onNATS runs a named scenario on NATS JetStream.
func onNATS(n Named) Named {
	n.Scenario.Broker = history.BrokerNATS
	return n
}

func natsNamed() []Named {
	point := func(kind, target, point string) history.Fault {
		return history.Fault{Kind: kind, Target: target, Point: point, Nth: 1}
	}
	credits := Commands(NewSeedSource(0), workload.Credits.Name, 2, 1)
	return []Named{
		onNATS(named("on NATS the duplicate window drops double write's retry after a lost confirm", nil, "double-write", "naive", workload.Orders.Name, fault.LostConfirm, orders(1),
			history.Fault{Kind: fault.LostConfirm, Target: "producer", Nth: 1})),
		onNATS(named("on NATS the duplicate window drops the relay's republish after a lost confirm, and the redelivered flag holds", nil, "outbox", "redelivered-flag", workload.Orders.Name, fault.LostConfirm, orders(1),
			history.Fault{Kind: fault.LostConfirm, Target: "relay", Nth: 1})),
		onNATS(named("on NATS the duplicate window drops the relay's republish after it dies before marking", nil, "outbox", "naive", workload.Orders.Name, fault.CrashRelay, orders(1),
			point(fault.CrashRelay, "relay", strategies.PointRelayAfterPublish))),
		onNATS(named("on NATS a relay back after the window publishes again, and naive pays twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "naive", workload.Orders.Name, fault.LateRedelivery, orders(1),
			point(fault.LateRedelivery, "relay", strategies.PointRelayAfterPublish))),
		onNATS(named("on NATS naive still pays twice when the consumer dies before its ack", []invariants.Name{invariants.NoDuplicateEffect}, "double-write", "naive", workload.Orders.Name, fault.CrashConsumer, orders(1),
			point(fault.CrashConsumer, "consumer-1", strategies.PointConsumerAfterEffect))),
		onNATS(named("on NATS a lost ack makes ack first apply twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "ack-first", workload.Orders.Name, fault.LostAck, orders(1),
			history.Fault{Kind: fault.LostAck, Target: "consumer-1", Nth: 1})),
		onNATS(named("on NATS inbox absorbs the redelivery after a lost ack", nil, "outbox", "inbox", workload.Credits.Name, fault.LostAck, credits,
			history.Fault{Kind: fault.LostAck, Target: "consumer-1", Nth: 1})),
		onNATS(named("on NATS inbox pays once when the consumer dies before its ack", nil, "double-write", "inbox", workload.Orders.Name, fault.CrashConsumer, orders(1),
			point(fault.CrashConsumer, "consumer-1", strategies.PointConsumerAfterEffect))),
		onNATS(named("on NATS a delivery back after the ack wait comes behind the newer price, and natural ends on the older one", []invariants.Name{invariants.Converges}, "double-write", "natural", workload.Prices.Name, fault.CrashConsumer, prices(2),
			point(fault.CrashConsumer, "consumer-1", strategies.PointConsumerAfterReceive))),
		onNATS(named("on NATS versioned keeps the newer price when a delivery comes back after the ack wait", nil, "double-write", "versioned", workload.Prices.Name, fault.CrashConsumer, prices(2),
			point(fault.CrashConsumer, "consumer-1", strategies.PointConsumerAfterReceive))),
	}
}
