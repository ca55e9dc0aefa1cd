package reports

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name.golden, or rewrites the file under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./reports -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test ./reports -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// render runs f twice and fails when the two outputs differ: no map order may leak.
func render(t *testing.T, f func(*bytes.Buffer) error) []byte {
	t.Helper()
	var a, b bytes.Buffer
	if err := f(&a); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		b.Reset()
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.Bytes(), b.Bytes()) {
			t.Fatalf("output is not deterministic:\n%s\n---\n%s", a.Bytes(), b.Bytes())
		}
	}
	return a.Bytes()
}

func cellOf(ce *result.Counterexample) result.Cell {
	sc := ce.Scenario
	return result.Cell{Producer: sc.Producer, Consumer: sc.Consumer, Workload: sc.Workload, Fault: sc.Fault}
}

func TestGolden(t *testing.T) {
	results := fixtureResults()
	cases := []struct {
		name string
		f    func(*bytes.Buffer) error
	}{
		{"timeline-duplicate", func(b *bytes.Buffer) error {
			ce := duplicateCE()
			return Timeline(b, ce, cellOf(ce), TimelineOptions{ReplayFile: "counterexample-17.json"})
		}},
		{"timeline-lost", func(b *bytes.Buffer) error {
			ce := lostCE()
			return Timeline(b, ce, cellOf(ce))
		}},
		{"matrix", func(b *bytes.Buffer) error { return Matrix(b, results, MatrixOptions{}) }},
		{"matrix-80", func(b *bytes.Buffer) error { return Matrix(b, results, MatrixOptions{Width: 80}) }},
		{"matrix-50", func(b *bytes.Buffer) error { return Matrix(b, results, MatrixOptions{Width: 50}) }},
		{"cell-duplicate", func(b *bytes.Buffer) error { return Cell(b, results[1]) }},
		{"cell-differs", func(b *bytes.Buffer) error { return Cell(b, results[5]) }},
		{"json", func(b *bytes.Buffer) error { return JSON(b, results) }},
		{"markdown", func(b *bytes.Buffer) error { return Markdown(b, results) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, render(t, tc.f)) })
	}
}

// lineWith returns the lines of text that contain every one of parts.
func linesWith(text string, parts ...string) []string {
	var out []string
next:
	for _, l := range strings.Split(text, "\n") {
		for _, p := range parts {
			if !strings.Contains(l, p) {
				continue next
			}
		}
		out = append(out, l)
	}
	return out
}

func TestTimelineMarksDuplicate(t *testing.T) {
	ce := duplicateCE()
	var b bytes.Buffer
	if err := Timeline(&b, ce, cellOf(ce)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	first := linesWith(out, "consumer-1", "apply", "order-1")
	second := linesWith(out, "consumer-2", "apply", "order-1")
	if len(first) != 1 || !strings.HasSuffix(first[0], "<== effect #1 of order-1") {
		t.Errorf("first apply not marked as effect #1: %q", first)
	}
	if len(second) != 1 || !strings.HasSuffix(second[0], "<== effect #2 of order-1 (duplicate)") {
		t.Errorf("second apply not marked as the duplicate: %q", second)
	}
	if n := strings.Count(out, "<=="); n != 2 {
		t.Errorf("%d markers, want 2:\n%s", n, out)
	}
	for _, want := range []string{
		"double-write / naive / orders under crash-consumer: no-duplicate-effect broken\n",
		"seed 17, shrunk to 1 command and 1 fault: crash-consumer on consumer-1 at consumer.after-effect #1\n",
		"replay: go run ./cmd/simulate replay --producer double-write --consumer naive --workload orders --fault crash-consumer --seed 17\n",
		"FAULT", "CRASH", "RESTART",
		"\nviolations:\n  no-duplicate-effect  order-1: order-1 paid 2 times",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("timeline lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "--scenario") {
		t.Errorf("second replay line without a replay file:\n%s", out)
	}

	b.Reset()
	if err := Timeline(&b, ce, cellOf(ce), TimelineOptions{ReplayFile: "ce.json"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\n    or: go run ./cmd/simulate replay --scenario ce.json\n") {
		t.Errorf("no replay by scenario file:\n%s", b.String())
	}
}

func TestTimelineColumnsAligned(t *testing.T) {
	ce := duplicateCE()
	tl := buildTimeline(ce, cellOf(ce), TimelineOptions{})
	if len(tl.rows) != len(ce.History.Events) {
		t.Fatalf("%d rows for %d distinct events", len(tl.rows), len(ce.History.Events))
	}
	// Every line's proc starts in the same column, and so does every op.
	procCol := strings.Index(tl.rows[0], "producer")
	opCol := strings.Index(tl.rows[0], "insert")
	for i, row := range tl.rows {
		e := ce.History.Events[i]
		if !strings.HasPrefix(row[procCol:], e.Proc+" ") {
			t.Errorf("row %d: proc %q not at column %d: %q", i+1, e.Proc, procCol, row)
		}
		if !strings.HasPrefix(strings.ToLower(row[opCol:]), e.Op) {
			t.Errorf("row %d: op %q not at column %d: %q", i+1, e.Op, opCol, row)
		}
	}
}

func TestTimelineCollapsesRepeats(t *testing.T) {
	ce := lostCE()
	var b bytes.Buffer
	if err := Timeline(&b, ce, cellOf(ce)); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	publishes := linesWith(out, "producer", "  publish  ", "order-1")
	if len(publishes) != 1 || !strings.Contains(publishes[0], "(link cut)  (x3)") {
		t.Errorf("three identical publishes should be one line with (x3): %q", publishes)
	}
	commits := linesWith(out, "producer", "commit", "order-1")
	if len(commits) != 1 || !strings.HasSuffix(commits[0], "<== committed, never applied") {
		t.Errorf("the committed order is not marked as lost: %q", commits)
	}
	if !strings.Contains(out, "HEAL") {
		t.Errorf("the heal does not stand out:\n%s", out)
	}
	// Numbering is by displayed line: 9 events, 3 of them collapsed into one.
	if !strings.Contains(out, "\n   7  ") || strings.Contains(out, "\n   8  ") {
		t.Errorf("want 7 numbered lines:\n%s", out)
	}

	// Identical events from different processes, or with something else between them, stay apart.
	lines := timelineLines([]history.Event{
		ev(1, "consumer-1", history.OpNack, history.OK, "m", ""),
		ev(2, "consumer-2", history.OpNack, history.OK, "m", ""),
		ev(3, "consumer-2", history.OpNack, history.OK, "m", ""),
		ev(4, "consumer-2", history.OpNack, history.Fail, "m", ""),
		ev(5, "consumer-2", history.OpNack, history.Fail, "m", ""),
		ev(6, "consumer-2", history.OpNack, history.Fail, "m", ""),
	}, nil)
	var counts []int
	for _, l := range lines {
		counts = append(counts, l.Count)
	}
	if len(counts) != 3 || counts[0] != 1 || counts[1] != 2 || counts[2] != 3 {
		t.Errorf("collapsed counts %v, want [1 2 3]", counts)
	}
}

func TestMarksOnlyCommittedEffects(t *testing.T) {
	const ok, info = history.OK, history.Info
	events := []history.Event{
		ev(1, "consumer-1", history.OpApply, ok, "order-1", ""), // its process dies before the commit
		ev(2, "consumer-1", history.OpCrash, info, "", "consumer.before-commit"),
		ev(3, "consumer-2", history.OpApply, ok, "order-1", ""), // committed in a batch
		ev(4, "consumer-2", history.OpApply, ok, "order-2", ""), //
		commitOf(5, "consumer-2", ok, "order-1", "order-2"),
		ev(6, "consumer-3", history.OpApply, ok, "order-1", ""), // rolled back
		ev(7, "consumer-3", history.OpRollback, ok, "order-1", ""),
		ev(8, "consumer-3", history.OpApply, ok, "order-1", ""), // commit outcome unknown
		ev(9, "consumer-3", history.OpCommit, history.Unknown, "order-1", "timeout"),
		ev(10, "consumer-1", history.OpApply, history.Fail, "order-1", "unique violation"),
	}
	v := invariants.Violation{Invariant: "no-duplicate-effect", Key: "order-1", Msgs: []string{"order-1"}}
	marks := markEffects(events, []invariants.Violation{v})
	want := map[int]Mark{2: {Kind: MarkEffect, Msg: "order-1", N: 1}, 7: {Kind: MarkDuplicate, Msg: "order-1", N: 2}}
	if len(marks) != len(want) {
		t.Errorf("marks %v, want %v", marks, want)
	}
	for i, m := range want {
		if len(marks[i]) != 1 || marks[i][0] != m {
			t.Errorf("event %d marked %v, want %v", i, marks[i], m)
		}
	}

	p := invariants.Violation{Invariant: "no-phantom-effect", Key: "order-2", Msgs: []string{"order-2"}}
	marks = markEffects(events, []invariants.Violation{p})
	if len(marks) != 1 || len(marks[3]) != 1 || marks[3][0] != (Mark{Kind: MarkPhantom, Msg: "order-2"}) {
		t.Errorf("phantom marks %v, want the apply of order-2", marks)
	}
}

// TestMarksEmailsAtTheGateway: an effect outside the database is marked where it happened, at
// the gateway, sent whether or not the consumer's transaction committed; a repeat the gateway
// dropped for its idempotency key is not an effect.
func TestMarksEmailsAtTheGateway(t *testing.T) {
	const ok, info = history.OK, history.Info
	events := []history.Event{
		ev(1, "consumer-1", history.OpApply, ok, "signup-1", ""),
		ev(1, "gateway", history.OpSend, info, "signup-1", "email to user-1"),
		ev(2, "consumer-1", history.OpCrash, info, "", "consumer.before-commit"),
		ev(3, "consumer-1", history.OpApply, ok, "signup-1", ""),
		ev(3, "gateway", history.OpSend, info, "signup-1", "email to user-1"),
		ev(4, "consumer-1", history.OpCommit, ok, "signup-1", ""),
		guarded(ev(5, "gateway", history.OpSend, info, "signup-1", "repeat of idempotency key signup-1 dropped"), history.GuardKey),
	}
	v := invariants.Violation{Invariant: "no-duplicate-effect", Key: "user-1", Msgs: []string{"signup-1"}}
	marks := markEffects(events, []invariants.Violation{v})
	want := map[int]Mark{1: {Kind: MarkEffect, Msg: "signup-1", N: 1}, 4: {Kind: MarkDuplicate, Msg: "signup-1", N: 2}}
	if len(marks) != len(want) {
		t.Errorf("marks %v, want %v", marks, want)
	}
	for i, m := range want {
		if len(marks[i]) != 1 || marks[i][0] != m {
			t.Errorf("event %d marked %v, want %v", i, marks[i], m)
		}
	}
}

func TestJSONContract(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, fixtureResults()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cells []map[string]json.RawMessage `json:"cells"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("output does not decode: %v\n%s", err, b.String())
	}
	if len(doc.Cells) != len(fixtureResults()) {
		t.Fatalf("%d cells, want %d", len(doc.Cells), len(fixtureResults()))
	}
	for i, c := range doc.Cells {
		for _, f := range []string{"producer", "consumer", "workload", "fault", "backend", "runs", "violations", "expected", "reason", "matches", "counterexample"} {
			if _, ok := c[f]; !ok {
				t.Errorf("cell %d lacks %q", i, f)
			}
		}
		var counts map[string]int
		if err := json.Unmarshal(c["violations"], &counts); err != nil || counts == nil {
			t.Errorf("cell %d: violations is not an object of counts: %s", i, c["violations"])
		}
	}
	if string(doc.Cells[0]["counterexample"]) != "null" {
		t.Errorf("a cell without a counterexample has %s", doc.Cells[0]["counterexample"])
	}

	var ce struct {
		Seed       *uint64           `json:"seed"`
		Invariant  string            `json:"invariant"`
		Scenario   *history.Scenario `json:"scenario"`
		Schedule   []history.Fault   `json:"schedule"`
		Violations []map[string]any  `json:"violations"`
		Timeline   []string          `json:"timeline"`
	}
	if err := json.Unmarshal(doc.Cells[1]["counterexample"], &ce); err != nil {
		t.Fatal(err)
	}
	if ce.Seed == nil || *ce.Seed != 17 || ce.Invariant != "no-duplicate-effect" || ce.Scenario == nil || ce.Scenario.Producer != "double-write" {
		t.Errorf("counterexample header: seed %v, invariant %q, scenario %+v", ce.Seed, ce.Invariant, ce.Scenario)
	}
	if len(ce.Schedule) != 1 || ce.Schedule[0].Kind != "crash-consumer" || ce.Schedule[0].Point != "consumer.after-effect" {
		t.Errorf("schedule %+v", ce.Schedule)
	}
	if len(ce.Violations) != 1 || ce.Violations[0]["invariant"] != "no-duplicate-effect" {
		t.Errorf("violations %v", ce.Violations)
	}
	if _, ok := ce.Violations[0]["evidence"]; ok {
		t.Errorf("violations carry their evidence")
	}
	if len(ce.Timeline) != 20 || !strings.HasPrefix(ce.Timeline[0], "   1  t=7") || !strings.Contains(ce.Timeline[15], "<== effect #2 of order-1 (duplicate)") {
		t.Errorf("timeline %q", ce.Timeline)
	}
	if bytes.Contains(b.Bytes(), []byte(`"events"`)) {
		t.Errorf("the raw history is dumped")
	}
}

func TestMatrixListsDifferingCells(t *testing.T) {
	for _, width := range []int{0, 80, 120, 160} {
		var b bytes.Buffer
		if err := Matrix(&b, fixtureResults(), MatrixOptions{Width: width}); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		at := strings.Index(out, "cells that differ from the catalogue (1):")
		if at < 0 {
			t.Fatalf("width %d: no list of differing cells:\n%s", width, out)
		}
		tail := out[at:]
		for _, want := range []string{
			"outbox/inbox-racy/orders/concurrent-consumers",
			"expected  no-duplicate-effect",
			"observed  nothing broken",
			"two consumers both find the message unprocessed",
		} {
			if !strings.Contains(tail, want) {
				t.Errorf("width %d: the differing cell's entry lacks %q:\n%s", width, want, tail)
			}
		}
		if !strings.Contains(out, "10 cells, 1000 runs, 3 cells broken as expected, 1 differing") {
			t.Errorf("width %d: summary line missing:\n%s", width, out)
		}
		if len(linesWith(out, "outbox/inbox-racy", "dup!")) != 0 || len(linesWith(out, "outbox/inbox-racy", "ok!")) != 1 {
			t.Errorf("width %d: the differing cell is not marked with !:\n%s", width, out)
		}
		limit := width
		if limit == 0 {
			limit = DefaultWidth
		}
		for _, l := range strings.Split(out, "\n") {
			if len(l) > limit && !strings.Contains(l, " ") {
				continue // one word longer than the width
			}
			if len(l) > limit {
				t.Errorf("width %d: line of %d columns: %q", width, len(l), l)
			}
		}
	}
}

func TestMatrixAbbreviatesWhenNarrow(t *testing.T) {
	var wide, narrow bytes.Buffer
	if err := Matrix(&wide, fixtureResults(), MatrixOptions{Width: 160}); err != nil {
		t.Fatal(err)
	}
	if err := Matrix(&narrow, fixtureResults(), MatrixOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(wide.String(), "concurrent-consumers") || strings.Contains(wide.String(), "faults: ") {
		t.Errorf("a wide matrix should use full fault names:\n%s", wide.String())
	}
	if !strings.Contains(narrow.String(), "conc-con") || !strings.Contains(narrow.String(), "conc-con = concurrent-consumers") {
		t.Errorf("a narrow matrix should abbreviate with a legend:\n%s", narrow.String())
	}
}

func TestSymbols(t *testing.T) {
	cases := []struct {
		r    result.CellResult
		want string
	}{
		{result.CellResult{Violations: ordersCounts(0, 0, 0), Matches: true}, "ok"},
		{result.CellResult{Violations: ordersCounts(3, 1, 0), Matches: true}, "dup+lost"},
		{result.CellResult{Violations: ordersCounts(3, 0, 0), Matches: false}, "dup!"},
		{result.CellResult{Violations: map[invariants.Name]int{"balance": 2, "zz-custom": 1}, Matches: true, Errors: 1}, "bal+zz-custom?"},
	}
	for _, tc := range cases {
		if got := symbol(tc.r); got != tc.want {
			t.Errorf("symbol(%v) = %q, want %q", tc.r.Violations, got, tc.want)
		}
	}
}

// TestMarkdownTimelineList: a counterexample's timeline is a numbered Markdown list, numbered as
// the text timeline is, its fault and effect marks in bold.
func TestMarkdownTimelineList(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, fixtureResults()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"### orders\n\n| producer / consumer ",
		"## Counterexamples\n",
		"### double-write / naive / orders under crash-consumer\n",
		"\n1. t=7 **",
		"⟸ **effect #2 of order-1 (duplicate)**\n",
		"Replay: `go run ./cmd/simulate replay --producer double-write --consumer naive --workload orders --fault crash-consumer --seed 17`",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "```")%2 != 0 {
		t.Errorf("unbalanced fences")
	}
}

func TestTimelineWithoutHistory(t *testing.T) {
	ce := duplicateCE()
	ce.History = nil
	var b bytes.Buffer
	if err := Timeline(&b, ce, result.Cell{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "note: no history recorded") || !strings.HasPrefix(b.String(), "double-write / naive / orders under crash-consumer") {
		t.Errorf("timeline without a history:\n%s", b.String())
	}
	if err := Timeline(&b, nil, result.Cell{}); err == nil {
		t.Errorf("a nil counterexample renders without error")
	}
}

// TestSymbolOfASearchFind: a break found only past the first seeds shows, marked, although its
// rate over those seeds is 0.
func TestSymbolOfASearchFind(t *testing.T) {
	r := result.CellResult{Runs: 100, Violations: map[invariants.Name]int{"converges": 0, "no-lost-effect": 0},
		Expected: []invariants.Name{"converges"}, Matches: true, FoundBySearch: map[invariants.Name]uint64{"converges": 431}}
	if got := symbol(r); got != "conv*" {
		t.Errorf("symbol %q, want conv*", got)
	}
	if m := r.Missing(); len(m) != 0 {
		t.Errorf("missing %v after the search found it", m)
	}
}
