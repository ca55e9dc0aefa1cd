package reports

import (
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
)

// TestChainMarks: a ghost message's emission is marked where the middle service appended it,
// and a second output's emissions are numbered; the relay's and the shipping service's lines
// about the same message are not.
func TestChainMarks(t *testing.T) {
	events := []history.Event{
		{Proc: "consumer-1", Op: history.OpOutbox, Msg: "ship-order-1", Key: "order-1", Outcome: history.OK},
		{Proc: "consumer-1", Op: history.OpCommit, Msgs: []string{"ship-order-1"}, Outcome: history.OK},
		{Proc: "ship-relay", Op: history.OpClaim, Msg: "ship-order-1", Outcome: history.OK},
		{Proc: "consumer-1", Op: history.OpOutbox, Msg: "ship-order-1-7", Key: "order-1", Outcome: history.OK},
		{Proc: "shipping", Op: history.OpApply, Msg: "ship-order-1", Outcome: history.OK},
	}
	ghost := invariants.Violation{Invariant: invariants.NoGhostMessage, Key: "order-1", Msgs: []string{"order-1", "ship-order-1"}}
	marks := markEffects(events, []invariants.Violation{ghost})
	if len(marks) != 1 || len(marks[0]) != 1 || marks[0][0] != (Mark{Kind: MarkGhost, Msg: "order-1"}) {
		t.Errorf("ghost marks %v", marks)
	}
	if got := marks[0][0].text("ship-order-1"); got != "ghost: emitted for order-1 before its effect committed" {
		t.Errorf("text %q", got)
	}
	second := invariants.Violation{Invariant: invariants.SameOutput, Key: "order-1", Msgs: []string{"order-1", "ship-order-1", "ship-order-1-7"}}
	marks = markEffects(events, []invariants.Violation{second})
	if len(marks) != 2 || marks[0][0] != (Mark{Kind: MarkOutput, Msg: "order-1", N: 1}) || marks[3][0] != (Mark{Kind: MarkOutput, Msg: "order-1", N: 2}) {
		t.Errorf("output marks %v", marks)
	}
	if got := marks[3][0].text("ship-order-1-7"); got != "output #2 of order-1" || !marks[3][0].Violation() {
		t.Errorf("text %q", got)
	}
}
