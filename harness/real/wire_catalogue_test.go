package real_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
)

// TestCatalogueFaultsOnTheWire: the catalogue's strategies under the three faults that act on one
// protocol event. The fault is counted at the worker's gates, as on the simulator, and the wire
// toxic acts on the protocol event of that operation alone: the timeline shows that one event
// with the outcome the client is left with, and the verdict is the simulator's.
func TestCatalogueFaultsOnTheWire(t *testing.T) {
	inf := containers.Require(t)
	b := real.NewBackend(inf)
	sim := harness.NewSim()
	orders := scenarios.Commands(scenarios.NewSeedSource(0), "orders", 3, 1)
	fault := func(kind, target string, nth int) history.Fault {
		return history.Fault{Kind: kind, Target: target, Nth: nth}
	}
	for _, tc := range []struct {
		name    string
		sc      history.Scenario
		logical bool   // the scenario tails the log: it needs wal_level=logical
		op      string // the wire event's operation
		msg     string // its message, when the operation names one
		shows   string // what its line says
	}{
		{name: "ambiguous-commit withholds the producer's second COMMIT reply",
			sc: mechScenario("double-write", "inbox", "orders", "ambiguous-commit", orders, fault("ambiguous-commit", "producer", 2)),
			op: history.OpCommit, shows: "commit -> unknown (COMMIT reply to producer withheld on the wire"},
		{name: "ambiguous-commit withholds the consumer's second COMMIT reply",
			sc: mechScenario("outbox", "inbox", "orders", "ambiguous-commit", orders, fault("ambiguous-commit", "consumer-1", 2)),
			op: history.OpCommit, shows: "commit -> unknown (COMMIT reply to consumer-1 withheld on the wire"},
		{name: "ambiguous-commit withholds the reply to the log tailer's first slot advance",
			sc:      mechScenario("log-tailing", "inbox", "orders", "ambiguous-commit", orders, fault("ambiguous-commit", "relay", 1)),
			logical: true, op: history.OpAdvance, shows: "advance -> unknown (reply to relay's slot advance withheld on the wire"},
		{name: "lost-confirm drops the confirm of the producer's second publish",
			sc: mechScenario("double-write", "inbox", "orders", "lost-confirm", orders, fault("lost-confirm", "producer", 2)),
			op: history.OpConfirm, msg: orders[1].ID, shows: "confirm " + orders[1].ID + " -> unknown (basic.ack (confirm) tag 2 to producer dropped on the wire"},
		{name: "lost-confirm drops the confirm of the relay's first publish",
			sc: mechScenario("outbox", "inbox", "orders", "lost-confirm", orders, fault("lost-confirm", "relay", 1)),
			op: history.OpConfirm, msg: orders[0].ID, shows: "confirm " + orders[0].ID + " -> unknown (basic.ack (confirm) tag 1 to relay dropped on the wire"},
		{name: "lost-ack drops the consumer's first ack and resets its connection",
			sc: mechScenario("outbox", "inbox", "orders", "lost-ack", orders, fault("lost-ack", "consumer-1", 1)),
			op: history.OpAck, shows: "ack -> unknown (basic.ack tag 1 from consumer-1 dropped on the wire, and the connection reset"},
		{name: "lost-ack makes naive apply its second order twice",
			sc: mechScenario("outbox", "naive", "orders", "lost-ack", orders, fault("lost-ack", "consumer-1", 2)),
			op: history.OpAck, shows: "ack -> unknown (basic.ack tag 2 from consumer-1 dropped on the wire, and the connection reset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.logical {
				realtest.RequireLogicalWAL(t, inf)
			}
			out, err := scenarios.RunScenario(context.Background(), b, tc.sc)
			if err != nil {
				t.Fatalf("real: %v", err)
			}
			desc := scenariotest.Describe(out.History, out.Violations)
			var wired []history.Event
			for _, e := range out.History.Events {
				if e.Proc == "harness" && strings.Contains(e.Detail, "on the wire") {
					wired = append(wired, e)
				}
			}
			if len(wired) != 1 {
				t.Fatalf("%d events on the wire, want 1\n%s", len(wired), desc)
			}
			e := wired[0]
			if e.Op != tc.op || e.Outcome != history.Unknown || e.Msg != tc.msg || !strings.Contains(e.String(), tc.shows) {
				t.Errorf("wire event %q, want op %s, outcome unknown, message %q, showing %q\n%s", e, tc.op, tc.msg, tc.shows, desc)
			}
			if !strings.Contains(desc, tc.shows) {
				t.Errorf("the timeline does not show %q\n%s", tc.shows, desc)
			}
			simOut, err := scenarios.RunScenario(context.Background(), sim, tc.sc)
			if err != nil {
				t.Fatalf("sim: %v", err)
			}
			got, want := invariants.Broken(out.Violations), invariants.Broken(simOut.Violations)
			if !slices.Equal(got, want) {
				t.Errorf("verdicts differ: sim broke %q, real broke %q\nreal:\n%s\nsim:\n%s", want, got,
					desc, scenariotest.Describe(simOut.History, simOut.Violations))
			}
			t.Logf("real broke %q: %s", got, e)
		})
	}
}
