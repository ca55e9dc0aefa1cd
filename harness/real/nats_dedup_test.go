package real_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// dedupCase is one scenario run on both brokers, with the invariants each must break.
type dedupCase struct {
	name      string
	p, c, f   string
	fault     history.Fault
	onRabbit  []invariants.Name
	onNATS    []invariants.Name
	consumers int
}

// onWire is what the real backend's timeline says the wire toxic did on NATS, for the faults that
// act on one protocol event: the mechanism is the wire's, not the strategy's.
var onWire = map[string]string{
	"lost-confirm": "PubAck on _INBOX.",
	"lost-ack":     "nats.ack of stream sequence",
}

// What broker dedup absorbs and what it does not. A publisher's retry after a lost confirm
// repeats the message id within the stream's duplicate window: NATS drops it, RabbitMQ queues a
// second copy. A redelivery to a consumer (its ack lost, or the consumer dead before its ack) is
// the same stored message delivered again: the window does not see it, and only the consumer's
// inbox holds.
var dedupCases = []dedupCase{
	{name: "a lost confirm's retry within the window is absorbed", p: "double-write", c: "naive", f: "lost-confirm",
		fault:    history.Fault{Kind: "lost-confirm", Target: "producer", Nth: 1},
		onRabbit: []invariants.Name{invariants.NoDuplicateEffect}},
	{name: "the relay's republish after a lost confirm is absorbed", p: "outbox", c: "naive", f: "lost-confirm",
		fault:    history.Fault{Kind: "lost-confirm", Target: "relay", Nth: 1},
		onRabbit: []invariants.Name{invariants.NoDuplicateEffect}},
	{name: "a lost ack's redelivery is not absorbed", p: "outbox", c: "naive", f: "lost-ack",
		fault:    history.Fault{Kind: "lost-ack", Target: "consumer-1", Nth: 1},
		onRabbit: []invariants.Name{invariants.NoDuplicateEffect}, onNATS: []invariants.Name{invariants.NoDuplicateEffect}},
	{name: "a crashed consumer's redelivery is not absorbed", p: "outbox", c: "naive", f: "crash-consumer",
		fault:    history.Fault{Kind: "crash-consumer", Target: "consumer-1", Point: strategies.PointConsumerAfterEffect, Nth: 1},
		onRabbit: []invariants.Name{invariants.NoDuplicateEffect}, onNATS: []invariants.Name{invariants.NoDuplicateEffect}},
	{name: "the inbox holds under a lost ack", p: "outbox", c: "inbox", f: "lost-ack",
		fault: history.Fault{Kind: "lost-ack", Target: "consumer-1", Nth: 1}},
	{name: "the inbox holds under a crashed consumer", p: "outbox", c: "inbox", f: "crash-consumer",
		fault: history.Fault{Kind: "crash-consumer", Target: "consumer-1", Point: strategies.PointConsumerAfterEffect, Nth: 1}},
	{name: "the inbox holds under a lost confirm", p: "double-write", c: "inbox", f: "lost-confirm",
		fault: history.Fault{Kind: "lost-confirm", Target: "producer", Nth: 1}},
}

// linkCases are the faults that act on a worker's link to the broker, through its Toxiproxy
// proxy, on both brokers. A slow link holds the PubAck past the publisher's confirm wait: on NATS
// the retries reach the stream within the window and are dropped, on RabbitMQ the retry queues a
// second copy. An ack written into a link cut under it is lost on both, and the message comes
// back (on NATS after the ack wait).
var linkCases = []dedupCase{
	{name: "the inbox rides out a broker outage", p: "outbox", c: "inbox", f: "broker-down",
		fault: history.Fault{Kind: "broker-down", Nth: 1, Duration: 300}},
	{name: "the relay rides out a cut at its publish", p: "outbox", c: "inbox", f: "partition-broker",
		fault: history.Fault{Kind: "partition-broker", Target: "relay", Point: fault.SitePublish, Nth: 1, Duration: 5}},
	{name: "a slow broker link's retries are absorbed within the window", p: "double-write", c: "naive", f: "latency",
		fault:    history.Fault{Kind: "latency", Target: "producer", Link: "broker", Nth: 1, Duration: 40},
		onRabbit: []invariants.Name{invariants.NoDuplicateEffect}},
	{name: "an ack lost with its cut link is redelivered", p: "outbox", c: "naive", f: "partition-broker",
		fault:    history.Fault{Kind: "partition-broker", Target: "consumer-1", Point: fault.SiteAck, Nth: 1, Duration: 5},
		onRabbit: []invariants.Name{invariants.NoDuplicateEffect}, onNATS: []invariants.Name{invariants.NoDuplicateEffect}},
	{name: "competing consumers with an inbox hold", p: "outbox", c: "inbox", f: "concurrent-consumers", consumers: 2,
		fault: history.Fault{Kind: "concurrent-consumers", Target: "consumer-1", Nth: 1}},
}

// TestNATSDedup runs each case on real PostgreSQL with RabbitMQ and with NATS JetStream (and on
// the simulator with each broker, which must agree), and requires the invariants it states.
func TestNATSDedup(t *testing.T) { runBrokerCases(t, dedupCases) }

// TestNATSLinkFaults: the link faults on both brokers, on both backends.
func TestNATSLinkFaults(t *testing.T) { runBrokerCases(t, linkCases) }

func runBrokerCases(t *testing.T, cases []dedupCase) {
	inf := realtest.RequireNATS(t)
	realB := real.NewBackend(inf)
	simB := harness.NewSim()
	for _, tc := range cases {
		for _, broker := range history.Brokers() {
			want := tc.onRabbit
			if broker == history.BrokerNATS {
				want = tc.onNATS
			}
			t.Run(tc.name+"@"+broker, func(t *testing.T) {
				sc := history.Scenario{Producer: tc.p, Consumer: tc.c, Workload: workload.Orders.Name, Fault: tc.f, Seed: 1,
					Commands: scenarios.Commands(scenarios.NewSeedSource(0), workload.Orders.Name, 2, 1),
					Faults:   []history.Fault{tc.fault}, Consumers: max(1, tc.consumers), Prefetch: 1, Batch: 1, Broker: broker}
				for _, b := range []harness.Backend{realB, simB} {
					out, err := scenarios.RunScenario(context.Background(), b, sc)
					if err != nil {
						t.Fatalf("%s: %v", b.Name(), err)
					}
					if !slices.ContainsFunc(out.History.Events, func(e history.Event) bool { return e.Op == history.OpFault }) {
						t.Fatalf("%s: the fault never fired:\n%s", b.Name(), scenariotest.Describe(out.History, out.Violations))
					}
					if w := onWire[tc.f]; w != "" && b == realB && broker == history.BrokerNATS &&
						!slices.ContainsFunc(out.History.Events, func(e history.Event) bool { return e.Proc == "harness" && strings.Contains(e.Detail, w) }) {
						t.Errorf("real on nats: no wire event %q:\n%s", w, scenariotest.Describe(out.History, out.Violations))
					}
					if got := invariants.Broken(out.Violations); !slices.Equal(got, want) {
						t.Errorf("%s on %s broke %q, want %q:\n%s", b.Name(), broker, got, want, scenariotest.Describe(out.History, out.Violations))
					}
				}
			})
		}
	}
}
