package reports

import (
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
)

// TestTimelineLinesMarks: a timeline's lines carry what the renderings and the demo show as
// typed marks: the infrastructure's doing, the effects a violation consists of, a defence at
// work; the rows render from them.
func TestTimelineLinesMarks(t *testing.T) {
	ce := duplicateCE()
	notes, lines := TimelineLines(ce)
	if len(notes) != 0 || len(lines) != len(ce.History.Events) {
		t.Fatalf("notes %q, %d lines for %d events", notes, len(lines), len(ce.History.Events))
	}
	kinds := map[int][]MarkKind{}
	for i, l := range lines {
		if l.Num != i+1 || l.Count != 1 {
			t.Errorf("line %d: number %d, count %d", i+1, l.Num, l.Count)
		}
		for _, m := range l.Marks {
			kinds[l.Num] = append(kinds[l.Num], m.Kind)
		}
	}
	want := map[int][]MarkKind{9: {MarkEffect}, 11: {MarkFault}, 12: {MarkCrash}, 16: {MarkDuplicate}, 19: {MarkRestart}}
	for n, k := range want {
		if !slices.Equal(kinds[n], k) {
			t.Errorf("line %d marks %v, want %v", n, kinds[n], k)
		}
	}
	if len(kinds) != len(want) {
		t.Errorf("marked lines %v, want %v", kinds, want)
	}
	if m := lines[15].Marker(); m != "effect #2 of order-1 (duplicate)" {
		t.Errorf("marker %q", m)
	}
	if !lines[11].Infra() || lines[11].Marker() != "" || lines[8].Infra() {
		t.Errorf("the crash is the infrastructure's, the effect is not")
	}
	rows := TimelineRows(lines)
	tl := buildTimeline(ce, cellOf(ce), TimelineOptions{})
	if !slices.Equal(rows, tl.rows) {
		t.Errorf("rows differ from the timeline's:\n%q\n%q", rows, tl.rows)
	}

	// A defence at work is a guard mark; a lost effect on a commit of several names its message.
	const ok, info = history.OK, history.Info
	events := []history.Event{
		ev(1, "producer", history.OpInsert, ok, "order-1", ""),
		ev(1, "producer", history.OpInsert, ok, "order-2", ""),
		commitOf(2, "producer", ok, "order-1", "order-2"),
		guarded(ev(3, "consumer-1", history.OpCheck, ok, "order-1", "inbox: seen"), history.GuardInbox),
	}
	v := invariants.Violation{Invariant: invariants.NoLostEffect, Msgs: []string{"order-2"}}
	lines = timelineLines(events, markEffects(events, []invariants.Violation{v}))
	if m := lines[2].Marker(); m != "order-2 committed, never applied" {
		t.Errorf("lost marker %q", m)
	}
	if g := lines[3].Guard(); g != history.GuardInbox || lines[3].Marker() != "" || lines[2].Guard() != "" {
		t.Errorf("guard %q on the check, %q on the commit", g, lines[2].Guard())
	}
}

// TestSequenceDiagramFields: the diagram draws a delivery to the consumer the event names and a
// gateway send from the caller the event names, whoever applies the message next.
func TestSequenceDiagramFields(t *testing.T) {
	const ok, info = history.OK, history.Info
	events := []history.Event{
		to(ev(1, "broker", history.OpDeliver, info, "signup-1", "to consumer-1"), "consumer-1"),
		to(ev(1, "broker", history.OpDeliver, info, "signup-1", "to consumer-2"), "consumer-2"),
		from(ev(2, "gateway", history.OpSend, info, "signup-1", "email to user-1"), "consumer-1"),
		from(ev(3, "gateway", history.OpSend, info, "signup-1", "email to user-1 (idempotency key k)"), "consumer-2"),
		ev(4, "consumer-2", history.OpApply, ok, "signup-1", ""),
		ev(5, "consumer-1", history.OpApply, ok, "signup-1", ""),
	}
	d := sequenceDiagram(&history.History{Backend: "sim", Events: events}, nil, "e")
	want := []string{
		"arrow broker->consumer-1 reply deliver signup-1",
		"arrow broker->consumer-2 reply deliver signup-1",
		"arrow consumer-1->gateway call send signup-1",
		"arrow consumer-2->gateway call send signup-1",
		"arrow consumer-2->db call apply signup-1",
		"arrow consumer-1->db call apply signup-1",
	}
	for i, r := range d.Rows {
		if got := drawn(d, r); got != want[i] {
			t.Errorf("row %d: %s, want %s", i+1, got, want[i])
		}
	}
}
