package invariants

import (
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
)

// chainRun is a chain run's history: events and final reads by hand.
func chainRun(events []history.Event, f history.Final) *history.History {
	return &history.History{Scenario: history.Scenario{Workload: "chain"}, Events: events, Final: f}
}

func ev(proc, op, msg, key string, out history.Outcome) history.Event {
	return history.Event{Proc: proc, Op: op, Msg: msg, Key: key, Outcome: out}
}

func TestChainInvariants(t *testing.T) {
	paid := []history.Effect{{Msg: "order-1", Key: "order-1", Amount: 10}}
	ship := history.Effect{Msg: "ship-order-1", Key: "order-1", Amount: 10}
	// One transaction: the payment and its downstream row commit together.
	inTx := []history.Event{
		ev("consumer-1", history.OpApply, "order-1", "order-1", history.OK),
		ev("consumer-1", history.OpOutbox, "ship-order-1", "order-1", history.OK),
		ev("consumer-1", history.OpCommit, "", "", history.OK),
	}
	// The downstream row committed first, in a transaction of its own.
	emitFirst := []history.Event{
		ev("consumer-1", history.OpOutbox, "ship-order-1", "order-1", history.OK),
		ev("consumer-1", history.OpCommit, "ship-order-1", "", history.OK),
	}
	for _, tc := range []struct {
		name   string
		events []history.Event
		final  history.Final
		want   map[Name]string // invariant -> a part of its detail; absent: holds
	}{
		{"in one transaction", inTx, history.Final{Effects: paid, Emitted: []history.Effect{ship}, Shipped: []history.Effect{ship}}, nil},
		{"a duplicate re-emits the same message", append(append([]history.Event{}, inTx...), inTx...),
			history.Final{Effects: append(paid, paid...), Emitted: []history.Effect{ship, ship}, Shipped: []history.Effect{ship}}, nil},
		{"emitted, then the effect in the next transaction", append(append([]history.Event{}, emitFirst...), inTx[0], inTx[2]),
			history.Final{Effects: paid, Emitted: []history.Effect{ship}, Shipped: []history.Effect{ship}}, nil},
		{"emitted, then the process died", append(append([]history.Event{}, emitFirst...),
			ev("consumer-1", history.OpApply, "order-1", "order-1", history.OK), ev("consumer-1", history.OpCrash, "", "", history.Info),
			ev("consumer-1", history.OpOutbox, "ship-order-1", "order-1", history.OK), ev("consumer-1", history.OpCommit, "", "", history.OK),
			inTx[0], inTx[2]),
			history.Final{Effects: paid, Emitted: []history.Effect{ship, ship}, Shipped: []history.Effect{ship}},
			map[Name]string{NoGhostMessage: "ship-order-1 was emitted for order-1 by consumer-1, whose effect of order-1 then never committed: the process died first"}},
		{"emitted, then rolled back", append(append([]history.Event{}, emitFirst...),
			ev("consumer-1", history.OpApply, "order-1", "order-1", history.OK), ev("consumer-1", history.OpRollback, "order-1", "", history.OK)),
			history.Final{Emitted: []history.Effect{ship}, Shipped: []history.Effect{ship}},
			map[Name]string{NoGhostMessage: "ship-order-1 exists for order-1, which has no payment (payments for order-1: 0)"}},
		{"a re-emission after the effect committed", append(append([]history.Event{}, inTx...), emitFirst...),
			history.Final{Effects: paid, Emitted: []history.Effect{ship, ship}, Shipped: []history.Effect{ship}}, nil},
		{"a duplicate emits another id", inTx,
			history.Final{Effects: append(paid, paid...), Emitted: []history.Effect{ship, {Msg: "ship-order-1-2", Key: "order-1", Amount: 10}},
				Shipped: []history.Effect{ship, {Msg: "ship-order-1-2", Key: "order-1", Amount: 10}}},
			map[Name]string{SameOutput: "order-1 emitted 2 different messages: ship-order-1 (amount 10), ship-order-1-2 (amount 10); shipped 2 times"}},
		{"a duplicate emits other content", inTx,
			history.Final{Effects: paid, Emitted: []history.Effect{ship, {Msg: "ship-order-1", Key: "order-1", Amount: 11}}, Shipped: []history.Effect{ship}},
			map[Name]string{SameOutput: "ship-order-1 (amount 10), ship-order-1 (amount 11); shipped 1 time"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := chainRun(tc.events, tc.final)
			got := map[Name]string{}
			for _, v := range Check(h) {
				if v.Invariant == NoGhostMessage || v.Invariant == SameOutput {
					got[v.Invariant] = v.Detail
					if len(v.Evidence) == 0 && len(tc.events) > 0 && v.Invariant == NoGhostMessage {
						t.Errorf("%s: no evidence", v.Invariant)
					}
				}
			}
			for name, want := range tc.want {
				if !strings.Contains(got[name], want) {
					t.Errorf("%s: detail %q, want it to contain %q", name, got[name], want)
				}
			}
			for name, d := range got {
				if _, ok := tc.want[name]; !ok {
					t.Errorf("%s broken (%s), want it to hold", name, d)
				}
			}
		})
	}
}

// TestChainInvariantsApplyToChainOnly: the chain's checkers judge a workload whose consumer
// emits and no other, and the others judge the chain by its effect kind (append).
func TestChainInvariantsApplyToChainOnly(t *testing.T) {
	names := func(w string) string {
		var out []Name
		for _, c := range For(w) {
			out = append(out, c.Name())
		}
		return Join(out, " ")
	}
	if got, want := names("chain"), "no-duplicate-effect no-lost-effect no-phantom-effect no-ghost-message same-output"; got != want {
		t.Errorf("For(chain) = %s, want %s", got, want)
	}
	if got := names("orders"); strings.Contains(got, "ghost") || strings.Contains(got, "same-output") {
		t.Errorf("For(orders) = %s", got)
	}
	// A ghost row in an orders history is not judged: orders emit nothing.
	h := chainRun(nil, history.Final{Emitted: []history.Effect{{Msg: "ship-order-1", Key: "order-1"}}})
	h.Scenario.Workload = "orders"
	for _, v := range Check(h) {
		if v.Invariant == NoGhostMessage {
			t.Errorf("orders judged by %s", v.Invariant)
		}
	}
}
