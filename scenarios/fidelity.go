package scenarios

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
)

// Named is a hand-written scenario with a name, run on every backend by the fidelity test: the
// same scenario must give the same verdict per invariant on the simulator and on real servers.
// Its faults fire at points both backends count the same way (the first commit, the first ack,
// a named fault point), so that neither timing nor interleaving decides the verdict.
type Named struct {
	Name     string
	Scenario history.Scenario
	Breaks   []invariants.Name // the invariants it breaks, from the mechanism its name states
}

func orders(n int) []history.Message {
	return Commands(NewSeedSource(0), workload.Orders.Name, n, 1)
}

func named(name string, breaks []invariants.Name, p, c, w, f string, cmds []history.Message, faults ...history.Fault) Named {
	consumers, prefetch := 1, 1
	switch f {
	case "concurrent-consumers":
		consumers = 2
	case "reorder":
		prefetch = 2
	}
	return Named{Name: name, Breaks: breaks, Scenario: history.Scenario{
		Producer: p, Consumer: c, Workload: w, Fault: f, Seed: 1,
		Commands: cmds, Faults: faults, Consumers: consumers, Prefetch: prefetch, Batch: 1,
	}}
}

// prices is n changes of one product's price.
func prices(n int) []history.Message {
	return Commands(NewSeedSource(0), workload.Prices.Name, n, 1)
}

// emails is n user registrations.
func emails(n int) []history.Message {
	return Commands(NewSeedSource(0), workload.Emails.Name, n, 1)
}

// namedSets are the fidelity scenarios of the strategies, faults and brokers that have a file of
// their own, each appended by that file's init.
var namedSets []func() []Named

// NamedScenarios is the fidelity set: each of the catalogue's mechanisms once, and its fix.
func NamedScenarios() []Named {
	all := coreNamed()
	for _, set := range namedSets {
		all = append(all, set()...)
	}
	return all
}

// coreNamed is the fidelity set of the first catalogue (RabbitMQ, the first four producers and
// eight consumers).
func coreNamed() []Named {
	crash := func(target, point string) history.Fault {
		kind := map[string]string{"producer": "crash-producer", "relay": "crash-relay"}[target]
		if kind == "" {
			kind = "crash-consumer"
		}
		return history.Fault{Kind: kind, Target: target, Point: point, Nth: 1}
	}
	// A cut short enough for a publisher's retries (strategies.PublishRetry) to outlast it.
	cut := func(kind, target, site string) history.Fault {
		return history.Fault{Kind: kind, Target: target, Point: site, Nth: 1, Duration: 5}
	}
	return []Named{
		named("baseline outbox inbox", nil, "outbox", "inbox", workload.Orders.Name, "none", orders(3)),
		named("double write loses the event when the producer dies after commit", []invariants.Name{invariants.NoLostEffect}, "double-write", "inbox", workload.Orders.Name, "crash-producer", orders(1),
			crash("producer", "producer.after-commit")),
		named("publish first invents an order when the producer dies after publishing", []invariants.Name{invariants.NoPhantomEffect}, "publish-first", "inbox", workload.Orders.Name, "crash-producer", orders(1),
			crash("producer", "producer.after-publish")),
		named("naive pays twice when the consumer dies before its ack", []invariants.Name{invariants.NoDuplicateEffect}, "double-write", "naive", workload.Orders.Name, "crash-consumer", orders(1),
			crash("consumer-1", "consumer.after-effect")),
		named("inbox pays once when the consumer dies before its ack", nil, "outbox", "inbox", workload.Orders.Name, "crash-consumer", orders(1),
			crash("consumer-1", "consumer.after-effect")),
		named("ack first loses the payment when the consumer dies after its ack", []invariants.Name{invariants.NoLostEffect}, "outbox", "ack-first", workload.Orders.Name, "crash-consumer", orders(1),
			crash("consumer-1", "consumer.after-ack")),
		named("the outbox relay publishes twice when it dies before marking", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "naive", workload.Orders.Name, "crash-relay", orders(1),
			crash("relay", "relay.after-publish")),
		named("inbox absorbs the relay's second publish", nil, "outbox", "inbox", workload.Orders.Name, "crash-relay", orders(1),
			crash("relay", "relay.after-publish")),
		named("a lost confirm makes double write publish twice", []invariants.Name{invariants.NoDuplicateEffect}, "double-write", "naive", workload.Orders.Name, "lost-confirm", orders(1),
			history.Fault{Kind: "lost-confirm", Target: "producer", Nth: 1}),
		named("the redelivered flag misses a producer-side duplicate", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "redelivered-flag", workload.Orders.Name, "lost-confirm", orders(1),
			history.Fault{Kind: "lost-confirm", Target: "relay", Nth: 1}),
		named("a lost ack makes ack first apply twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "ack-first", workload.Orders.Name, "lost-ack", orders(1),
			history.Fault{Kind: "lost-ack", Target: "consumer-1", Nth: 1}),
		named("inbox absorbs the redelivery after a lost ack", nil, "outbox", "inbox", workload.Credits.Name, "lost-ack", Commands(NewSeedSource(0), workload.Credits.Name, 2, 1),
			history.Fault{Kind: "lost-ack", Target: "consumer-1", Nth: 1}),
		named("an unanswered commit makes double write drop the event", []invariants.Name{invariants.NoLostEffect}, "double-write", "inbox", workload.Orders.Name, "ambiguous-commit", orders(1),
			history.Fault{Kind: "ambiguous-commit", Target: "producer", Nth: 1}),
		named("an unanswered commit makes naive apply twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "naive", workload.Orders.Name, "ambiguous-commit", orders(1),
			history.Fault{Kind: "ambiguous-commit", Target: "consumer-1", Nth: 1}),
		named("outbox and inbox ride out a broker outage", nil, "outbox", "inbox", workload.Credits.Name, "broker-down", Commands(NewSeedSource(0), workload.Credits.Name, 2, 1),
			history.Fault{Kind: "broker-down", Nth: 1, Duration: 300}),

		named("baseline log tailing inbox", nil, "log-tailing", "inbox", workload.Credits.Name, "none", Commands(NewSeedSource(0), workload.Credits.Name, 3, 1)),
		named("the log tailer publishes twice when it dies before advancing the slot", []invariants.Name{invariants.NoDuplicateEffect}, "log-tailing", "naive", workload.Orders.Name, "crash-relay", orders(1),
			crash("relay", "relay.after-publish")),
		named("inbox absorbs the log tailer's second publish", nil, "log-tailing", "inbox", workload.Orders.Name, "crash-relay", orders(1),
			crash("relay", "relay.after-publish")),

		named("inbox sends a second email when the consumer dies before its commit", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "inbox", workload.Emails.Name, "crash-consumer", emails(1),
			crash("consumer-1", "consumer.before-commit")),
		named("the gateway's idempotency key keeps it to one email", nil, "outbox", "idempotency-key", workload.Emails.Name, "crash-consumer", emails(1),
			crash("consumer-1", "consumer.before-commit")),
		named("a slow gateway makes inbox send a second email", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "inbox", workload.Emails.Name, "latency", emails(1),
			history.Fault{Kind: "latency", Target: "consumer-1", Link: "gateway", Nth: 1, Duration: 40}),
		named("the idempotency key holds on a slow gateway", nil, "outbox", "idempotency-key", workload.Emails.Name, "latency", emails(1),
			history.Fault{Kind: "latency", Target: "consumer-1", Link: "gateway", Nth: 1, Duration: 40}),
		named("a slow broker link makes double write publish twice", []invariants.Name{invariants.NoDuplicateEffect}, "double-write", "naive", workload.Orders.Name, "latency", orders(1),
			history.Fault{Kind: "latency", Target: "producer", Link: "broker", Nth: 1, Duration: 40}),

		// Link cuts that meet a protocol event: the request on the wire is lost with the
		// connection (a publish, an ack), or reaches the server whose reply is lost with it (a
		// COMMIT pinned to pg.commit), or the reply on its way is lost (a confirm).
		named("a cut link swallows ack first's ack, and it applies twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "ack-first", workload.Orders.Name, "partition-broker", orders(1),
			cut("partition-broker", "consumer-1", fault.SiteAck)),
		named("inbox absorbs the redelivery of an ack a cut link swallowed", nil, "outbox", "inbox", workload.Orders.Name, "partition-broker", orders(1),
			cut("partition-broker", "consumer-1", fault.SiteAck)),
		named("a publish written into a cut link is lost and published again", nil, "double-write", "naive", workload.Orders.Name, "partition-broker", orders(1),
			cut("partition-broker", "producer", fault.SitePublish)),
		named("a confirm lost with a cut link makes double write publish twice", []invariants.Name{invariants.NoDuplicateEffect}, "double-write", "naive", workload.Orders.Name, "partition-broker", orders(1),
			cut("partition-broker", "producer", fault.SiteConfirm)),
		named("a cut with the COMMIT in flight makes double write drop the event", []invariants.Name{invariants.NoLostEffect}, "double-write", "inbox", workload.Orders.Name, "partition-db", orders(1),
			cut("partition-db", "producer", fault.SiteCommit)),
		named("a cut with the COMMIT in flight makes naive apply twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "naive", workload.Orders.Name, "partition-db", orders(1),
			cut("partition-db", "consumer-1", fault.SiteCommit)),
		named("a cut before the COMMIT leaves aborts it, and double write holds", nil, "double-write", "inbox", workload.Orders.Name, "partition-db", orders(1),
			history.Fault{Kind: "partition-db", Target: "producer", Nth: 2, Duration: 5}),

		// A real broker restart: on real servers a RabbitMQ node of the run's own restarts.
		named("outbox and inbox ride out a broker restart", nil, "outbox", "inbox", workload.Credits.Name, "broker-restart", Commands(NewSeedSource(0), workload.Credits.Name, 2, 1),
			history.Fault{Kind: "broker-restart", Nth: 1}),
		named("a broker restart takes naive's ack, and it pays twice", []invariants.Name{invariants.NoDuplicateEffect}, "outbox", "naive", workload.Orders.Name, "broker-restart", orders(1),
			history.Fault{Kind: "broker-restart", Point: fault.SiteAck, Nth: 1}),
		named("double write gives up while the broker restarts and drops the event", []invariants.Name{invariants.NoLostEffect}, "double-write", "inbox", workload.Orders.Name, "broker-restart", orders(1),
			history.Fault{Kind: "broker-restart", Point: fault.SitePublish, Nth: 1}),

		// Two producers whose transactions interleave: price-1 commits after price-2.
		named("two producers commit out of order, and natural ends on the older price", []invariants.Name{invariants.Converges}, "outbox", "natural", workload.Prices.Name, "concurrent-producers", prices(2),
			history.Fault{Kind: "concurrent-producers", Target: "producer", Nth: 1}),
		named("versioned keeps the newer price when two producers commit out of order", nil, "double-write", "versioned", workload.Prices.Name, "concurrent-producers", prices(2),
			history.Fault{Kind: "concurrent-producers", Target: "producer", Nth: 1}),

		named("a reordered delivery leaves natural on an older price", []invariants.Name{invariants.Converges}, "double-write", "natural", workload.Prices.Name, "reorder", prices(2),
			history.Fault{Kind: "reorder", Target: "consumer-1", Nth: 1}),
		named("versioned converges whatever the order", nil, "double-write", "versioned", workload.Prices.Name, "reorder", prices(2),
			history.Fault{Kind: "reorder", Target: "consumer-1", Nth: 1}),
	}
}
