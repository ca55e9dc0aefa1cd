package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// coverageResults are two cells: one whose runs never reached two declared fault points (one of
// the relay, one of the consumer), with a counterexample, and one whose runs reached every point
// (its passes not counted, as in a result written before they were).
func coverageResults() []result.CellResult {
	dup := []invariants.Name{"no-duplicate-effect"}
	partial := cellResult("outbox", "naive", "orders", "crash-consumer", 10, ordersCounts(3, 0, 0), dup, true,
		"the consumer dies after the payment commits and before its ack; the broker redelivers and the naive consumer pays again")
	partial.Counterexample = duplicateCE()
	partial.Coverage = result.Coverage{
		{Role: "producer", Declared: []string{"producer.after-commit"}, Reached: []string{"producer.after-commit"}, Unreached: []string{},
			Runs: 10, RunsReached: map[string]int{"producer.after-commit": 10}, Passes: map[string]int{"producer.after-commit": 12}},
		{Role: "relay", Declared: []string{"relay.after-claim", "relay.after-publish", "relay.after-commit"},
			Reached: []string{"relay.after-claim", "relay.after-publish"}, Unreached: []string{"relay.after-commit"},
			Runs: 10, RunsReached: map[string]int{"relay.after-claim": 10, "relay.after-publish": 7},
			Passes: map[string]int{"relay.after-claim": 25, "relay.after-publish": 7}},
		{Role: "consumer", Declared: []string{"consumer.after-receive", "consumer.after-effect"},
			Reached: []string{"consumer.after-effect"}, Unreached: []string{"consumer.after-receive"},
			Runs: 10, RunsReached: map[string]int{"consumer.after-effect": 9}, Passes: map[string]int{"consumer.after-effect": 9}},
	}
	full := cellResult("outbox", "inbox", "orders", "crash-consumer", 10, ordersCounts(0, 0, 0), nil, true,
		"the redelivered copy finds its inbox row and is acked without a second payment")
	full.Coverage = result.Coverage{
		{Role: "consumer", Declared: []string{"consumer.after-effect"}, Reached: []string{"consumer.after-effect"}, Unreached: []string{},
			Runs: 10, RunsReached: map[string]int{"consumer.after-effect": 10}},
	}
	return []result.CellResult{partial, full}
}

// TestCoverageGolden: the text cell, the text matrix and the Markdown report give one line per
// cell with a declared fault point no run reached, and nothing for a cell that reached them all.
func TestCoverageGolden(t *testing.T) {
	results := coverageResults()
	cases := []struct {
		name string
		f    func(*bytes.Buffer) error
	}{
		{"cell-coverage", func(b *bytes.Buffer) error { return Cell(b, results[0]) }},
		{"matrix-coverage", func(b *bytes.Buffer) error { return Matrix(b, results, MatrixOptions{}) }},
		{"markdown-coverage", func(b *bytes.Buffer) error { return Markdown(b, results) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, render(t, tc.f)) })
	}
}

func TestUnreachedText(t *testing.T) {
	results := coverageResults()
	for _, tc := range []struct {
		name string
		r    result.CellResult
		want string
	}{
		{"two roles", results[0], "points no run reached: relay: relay.after-commit; consumer: consumer.after-receive"},
		{"all reached", results[1], ""},
		{"not measured", result.CellResult{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unreachedText(tc.r); got != tc.want {
				t.Errorf("unreachedText = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestReachedText: a cell's own reports name every point reached with the runs that reached it
// and the times they passed it; the HTML matrix's title names only the points some runs missed; a
// coverage without counts (a result written before them) names the points alone, and one without
// passes the runs alone.
func TestReachedText(t *testing.T) {
	results := coverageResults()
	uncounted := results[0]
	uncounted.Coverage = nil
	for _, rc := range results[0].Coverage {
		rc.Runs, rc.RunsReached, rc.Passes = 0, nil, nil
		uncounted.Coverage = append(uncounted.Coverage, rc)
	}
	onePass := result.CellResult{Coverage: result.Coverage{{Role: "consumer", Declared: []string{"consumer.after-effect"},
		Reached: []string{"consumer.after-effect"}, Unreached: []string{}, Runs: 2,
		RunsReached: map[string]int{"consumer.after-effect": 1}, Passes: map[string]int{"consumer.after-effect": 1}}}}
	noneReached := result.CellResult{Coverage: result.Coverage{{Role: "consumer", Declared: []string{"consumer.after-effect"},
		Reached: []string{}, Unreached: []string{"consumer.after-effect"}, Runs: 10, RunsReached: map[string]int{}}}}
	for _, tc := range []struct {
		name          string
		r             result.CellResult
		reached, some string
	}{
		{"some points in some runs", results[0],
			"runs that reached each fault point, of 10: producer: producer.after-commit 10 (12 passes); relay: relay.after-claim 10 (25 passes), relay.after-publish 7 (7 passes); consumer: consumer.after-effect 9 (9 passes)",
			"fault points only some of the 10 runs reached: relay.after-publish 7 (7 passes), consumer.after-effect 9 (9 passes)"},
		{"every point in every run", results[1], "runs that reached each fault point, of 10: consumer: consumer.after-effect 10", ""},
		{"not counted", uncounted,
			"fault points reached: producer: producer.after-commit; relay: relay.after-claim, relay.after-publish; consumer: consumer.after-effect", ""},
		{"one run, one pass", onePass, "runs that reached each fault point, of 2: consumer: consumer.after-effect 1 (1 pass)",
			"fault points only some of the 2 runs reached: consumer.after-effect 1 (1 pass)"},
		{"none reached", noneReached, "", ""},
		{"not measured", result.CellResult{}, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := reachedText(tc.r); got != tc.reached {
				t.Errorf("reachedText = %q, want %q", got, tc.reached)
			}
			if got := partlyReachedText(tc.r); got != tc.some {
				t.Errorf("partlyReachedText = %q, want %q", got, tc.some)
			}
		})
	}
}

// TestCoverageHTML: the matrix cell's title names the points only some runs reached and those
// no run reached; the counterexample's page names every point with its runs and passes and those
// no run reached; a cell whose every run reached every point says nothing of it in its title.
func TestCoverageHTML(t *testing.T) {
	const (
		line = "Points no run reached: relay: relay.after-commit; consumer: consumer.after-receive."
		some = "Fault points only some of the 10 runs reached: relay.after-publish 7 (7 passes), consumer.after-effect 9 (9 passes)."
		runs = "Runs that reached each fault point, of 10: producer: producer.after-commit 10 (12 passes); relay: relay.after-claim 10 (25 passes), relay.after-publish 7 (7 passes); consumer: consumer.after-effect 9 (9 passes)."
	)
	pages, _ := site(t, coverageResults())
	matrix := pages["matrix.html"]
	for _, want := range []string{line, some} {
		if n := strings.Count(matrix, want); n != 1 {
			t.Errorf("matrix.html has %q %d times, want once (the partial cell's title)", want, n)
		}
	}
	for _, want := range []string{"Points no run reached", "Fault points only some"} {
		if n := strings.Count(matrix, want); n != 1 {
			t.Errorf("matrix.html has %q %d times, want once", want, n)
		}
	}
	ce := pages["counterexamples/outbox_naive_orders_crash-consumer.html"]
	if !strings.Contains(ce, `<p class="coverage">`+runs+" "+line+`</p>`) {
		t.Errorf("the counterexample page does not say which points its runs reached and which none did:\n%s", ce)
	}
}

// TestCoverageJSON: each cell carries its coverage per role under "coverage", unreached points
// included, with empty lists as [], and per point reached its runs and its passes.
func TestCoverageJSON(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, coverageResults()); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	cov := doc.Cells[0].Coverage
	if len(cov) != 3 || cov[1].Role != "relay" || strings.Join(cov[1].Unreached, ",") != "relay.after-commit" {
		t.Errorf("coverage %+v, want producer, relay (relay.after-commit unreached), consumer", cov)
	}
	if !strings.Contains(b.String(), `"unreached": []`) {
		t.Errorf("want empty lists as []:\n%s", b.String())
	}
	if rc := cov[1]; rc.Runs != 10 || len(rc.RunsReached) != 2 || rc.RunsReached["relay.after-publish"] != 7 {
		t.Errorf("relay counts: runs %d, runs_reached %v; want 10 and relay.after-publish 7 of 2 points", rc.Runs, rc.RunsReached)
	}
	if !strings.Contains(b.String(), `"runs_reached": {`) {
		t.Errorf("want runs_reached per role:\n%s", b.String())
	}
	if rc := cov[1]; len(rc.Passes) != 2 || rc.Passes["relay.after-claim"] != 25 || rc.Passes["relay.after-publish"] != 7 {
		t.Errorf("relay passes %v, want relay.after-claim 25 and relay.after-publish 7", rc.Passes)
	}
	if !strings.Contains(b.String(), `"passes": {`) {
		t.Errorf("want passes per role:\n%s", b.String())
	}
}
