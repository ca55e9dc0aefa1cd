package real_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
)

// mechanism is a fixed scenario with the verdict its mechanism gives on real servers.
type mechanism struct {
	name   string
	sc     history.Scenario
	breaks []invariants.Name // the invariants it breaks
	// effects: how many effect rows (emails, payments) the final state holds; 0 means any, and
	// a negative number at least that many.
	effects int
	// evidence: (proc, op, msg) events the history must hold, showing that the fault did its work.
	evidence [][3]string
}

func mechScenario(p, c, w, f string, cmds []history.Message, faults ...history.Fault) history.Scenario {
	return history.Scenario{Producer: p, Consumer: c, Workload: w, Fault: f, Seed: 1,
		Commands: cmds, Faults: faults, Consumers: 1, Prefetch: 1, Batch: 1}
}

// runMechanisms runs each scenario on real servers, checks its verdict, effect count and evidence,
// and requires the simulator's verdict on the same scenario to be the same.
func runMechanisms(t *testing.T, ms []mechanism) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	sim := harness.NewSim()
	for _, m := range ms {
		t.Run(m.name, func(t *testing.T) {
			out, err := scenarios.RunScenario(context.Background(), b, m.sc)
			if err != nil {
				t.Fatalf("real: %v", err)
			}
			got := invariants.Broken(out.Violations)
			desc := scenariotest.Describe(out.History, out.Violations)
			if !slices.Equal(got, m.breaks) {
				t.Errorf("real broke %q, want %q\n%s", got, m.breaks, desc)
			}
			n := len(out.History.Final.Effects)
			switch {
			case m.effects > 0 && n != m.effects, m.effects < 0 && n < -m.effects:
				t.Errorf("real: %d effects, want %d (negative: at least)\n%s", n, m.effects, desc)
			}
			for _, ev := range m.evidence {
				if !slices.ContainsFunc(out.History.Events, func(e history.Event) bool {
					return e.Proc == ev[0] && e.Op == ev[1] && (ev[2] == "" || e.Msg == ev[2] || strings.Contains(e.Detail, ev[2]))
				}) {
					t.Errorf("real: no %s %s %s in the history\n%s", ev[0], ev[1], ev[2], desc)
				}
			}
			simOut, err := scenarios.RunScenario(context.Background(), sim, m.sc)
			if err != nil {
				t.Fatalf("sim: %v", err)
			}
			if s := invariants.Broken(simOut.Violations); !slices.Equal(s, got) {
				t.Errorf("verdicts differ: sim broke %q, real broke %q\nreal:\n%s\nsim:\n%s", s, got,
					desc, scenariotest.Describe(simOut.History, simOut.Violations))
			}
			t.Logf("real: %d effects, final %v, broke %q", n, out.History.Final.Values, got)
			if testing.Verbose() && os.Getenv("HARNESS_SHOW_HISTORY") != "" {
				t.Logf("real:\n%s", desc)
			}
		})
	}
}

// TestMechanismsEmails: the email is sent outside the consumer's transaction, so only the
// gateway's idempotency key stops a second email when the transaction that sent it does not
// count (the consumer dies before its commit, or its COMMIT never reaches the database); the
// inbox alone covers a death after the commit.
func TestMechanismsEmails(t *testing.T) {
	emails := scenarios.Commands(scenarios.NewSeedSource(0), "emails", 1, 1)
	id := emails[0].ID
	crash := history.Fault{Kind: "crash-consumer", Target: "consumer-1", Point: "consumer.after-effect", Nth: 1}
	crashBeforeCommit := history.Fault{Kind: "crash-consumer", Target: "consumer-1", Point: "consumer.before-commit", Nth: 1}
	// The consumer's second counted database operation is its first COMMIT (the first is BEGIN).
	cutAtCommit := history.Fault{Kind: "partition-db", Target: "consumer-1", Nth: 2, Duration: 300}
	runMechanisms(t, []mechanism{
		{name: "naive emails twice when the consumer dies before its ack",
			sc:     mechScenario("outbox", "naive", "emails", "crash-consumer", emails, crash),
			breaks: []invariants.Name{"no-duplicate-effect"}, effects: 2,
			evidence: [][3]string{{"gateway", history.OpSend, id}, {"consumer-1", history.OpCrash, ""}}},
		{name: "the inbox emails once when the consumer dies after its commit",
			sc:      mechScenario("outbox", "inbox", "emails", "crash-consumer", emails, crash),
			effects: 1, evidence: [][3]string{{"consumer-1", history.OpCrash, ""}}},
		{name: "idempotency key emails once when the consumer dies before its ack",
			sc:      mechScenario("outbox", "idempotency-key", "emails", "crash-consumer", emails, crash),
			effects: 1, evidence: [][3]string{{"consumer-1", history.OpCrash, ""}}},
		{name: "the inbox emails twice when the consumer dies before its commit",
			sc:     mechScenario("outbox", "inbox", "emails", "crash-consumer", emails, crashBeforeCommit),
			breaks: []invariants.Name{"no-duplicate-effect"}, effects: 2,
			evidence: [][3]string{{"consumer-1", history.OpCrash, "consumer.before-commit"}}},
		{name: "idempotency key emails once when the consumer dies before its commit",
			sc:      mechScenario("outbox", "idempotency-key", "emails", "crash-consumer", emails, crashBeforeCommit),
			effects: 1, evidence: [][3]string{{"consumer-1", history.OpCrash, "consumer.before-commit"}, {"gateway", history.OpSend, "repeat of idempotency key"}}},
		{name: "the inbox emails twice when its commit does not reach the database",
			sc:     mechScenario("outbox", "inbox", "emails", "partition-db", emails, cutAtCommit),
			breaks: []invariants.Name{"no-duplicate-effect"}, effects: 2,
			evidence: [][3]string{{"consumer-1", history.OpFault, "partition-db"}}},
		{name: "idempotency key emails once when its commit does not reach the database",
			sc:      mechScenario("outbox", "idempotency-key", "emails", "partition-db", emails, cutAtCommit),
			effects: 1, evidence: [][3]string{{"consumer-1", history.OpFault, "partition-db"}, {"gateway", history.OpSend, "repeat of idempotency key"}}},
	})
}

// TestMechanismsLatency: a slow link gives the client no reply within its timeout although the
// server acted: a second email, a second payment, a second message.
func TestMechanismsLatency(t *testing.T) {
	emails := scenarios.Commands(scenarios.NewSeedSource(0), "emails", 1, 1)
	orders := scenarios.Commands(scenarios.NewSeedSource(0), "orders", 1, 1)
	slow := func(target, link string, nth int) history.Fault {
		return history.Fault{Kind: "latency", Target: target, Link: link, Nth: nth, Duration: 100}
	}
	runMechanisms(t, []mechanism{
		{name: "the inbox emails again after a gateway call times out",
			sc:     mechScenario("outbox", "inbox", "emails", "latency", emails, slow("consumer-1", "gateway", 1)),
			breaks: []invariants.Name{"no-duplicate-effect"}, effects: -2,
			evidence: [][3]string{{"consumer-1", history.OpFault, "gateway link"}, {"consumer-1", history.OpApply, emails[0].ID}}},
		{name: "idempotency key emails once after a gateway call times out",
			sc:      mechScenario("outbox", "idempotency-key", "emails", "latency", emails, slow("consumer-1", "gateway", 1)),
			effects: 1, evidence: [][3]string{{"gateway", history.OpSend, "repeat of idempotency key"}}},
		{name: "naive pays twice when the reply to its commit is late",
			sc:     mechScenario("outbox", "naive", "orders", "latency", orders, slow("consumer-1", "db", 2)),
			breaks: []invariants.Name{"no-duplicate-effect"}, effects: 2,
			evidence: [][3]string{{"consumer-1", history.OpFault, "db link"}}},
		{name: "the inbox pays once when the reply to its commit is late",
			sc:      mechScenario("outbox", "inbox", "orders", "latency", orders, slow("consumer-1", "db", 2)),
			effects: 1, evidence: [][3]string{{"consumer-1", history.OpFault, "db link"}}},
		{name: "double write publishes twice when its confirm is late",
			sc:     mechScenario("double-write", "naive", "orders", "latency", orders, slow("producer", "broker", 1)),
			breaks: []invariants.Name{"no-duplicate-effect"}, effects: 2,
			evidence: [][3]string{{"producer", history.OpFault, "broker link"}}},
	})
}

// TestMechanismsReorder: the consumer hands the first of two price changes back once the second
// has arrived, so the second is applied first. The natural upsert ends on the older price; the
// versioned upsert skips it. The second consumer is cut off from the broker meanwhile, so that
// both deliveries go to the first (RabbitMQ would give the second to it otherwise).
func TestMechanismsReorder(t *testing.T) {
	prices := []history.Message{
		{ID: "price-1", Key: "product-1", Amount: 10, Seq: 1, Kind: "ProductPriceChanged"},
		{ID: "price-2", Key: "product-1", Amount: 20, Seq: 2, Kind: "ProductPriceChanged"},
	}
	reorder := func(c string) history.Scenario {
		sc := mechScenario("outbox", c, "prices", "reorder", prices,
			history.Fault{Kind: "reorder", Target: "consumer-1", Nth: 1},
			history.Fault{Kind: "partition-broker", Target: "consumer-2", Nth: 1, Duration: 1500})
		sc.Consumers, sc.Prefetch = 2, 2
		return sc
	}
	evidence := [][3]string{{"consumer-1", history.OpFault, "reorder"}, {"consumer-1", history.OpNack, "price-1"}}
	runMechanisms(t, []mechanism{
		{name: "natural ends on the older price", sc: reorder("natural"), breaks: []invariants.Name{"converges"}, effects: 2, evidence: evidence},
		{name: "versioned skips the older price", sc: reorder("versioned"), effects: 1, evidence: evidence},
	})
}
