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
// the relay, one of the consumer), with a counterexample, and one whose runs reached every point.
func coverageResults() []result.CellResult {
	dup := []invariants.Name{"no-duplicate-effect"}
	partial := cellResult("outbox", "naive", "orders", "crash-consumer", 10, ordersCounts(3, 0, 0), dup, true,
		"the consumer dies after the payment commits and before its ack; the broker redelivers and the naive consumer pays again")
	partial.Counterexample = duplicateCE()
	partial.Coverage = result.Coverage{
		{Role: "producer", Declared: []string{"producer.after-commit"}, Reached: []string{"producer.after-commit"}, Unreached: []string{}},
		{Role: "relay", Declared: []string{"relay.after-claim", "relay.after-publish", "relay.after-commit"},
			Reached: []string{"relay.after-claim", "relay.after-publish"}, Unreached: []string{"relay.after-commit"}},
		{Role: "consumer", Declared: []string{"consumer.after-receive", "consumer.after-effect"},
			Reached: []string{"consumer.after-effect"}, Unreached: []string{"consumer.after-receive"}},
	}
	full := cellResult("outbox", "inbox", "orders", "crash-consumer", 10, ordersCounts(0, 0, 0), nil, true,
		"the redelivered copy finds its inbox row and is acked without a second payment")
	full.Coverage = result.Coverage{
		{Role: "consumer", Declared: []string{"consumer.after-effect"}, Reached: []string{"consumer.after-effect"}, Unreached: []string{}},
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

// TestCoverageHTML: the matrix cell's title and the counterexample's page say which points no
// run reached; a cell that reached them all says nothing of it.
func TestCoverageHTML(t *testing.T) {
	const line = "Points no run reached: relay: relay.after-commit; consumer: consumer.after-receive."
	pages, _ := site(t, coverageResults())
	if n := strings.Count(pages["matrix.html"], line); n != 1 {
		t.Errorf("matrix.html has the line %d times, want once (the partial cell's title)", n)
	}
	if n := strings.Count(pages["matrix.html"], "Points no run reached"); n != 1 {
		t.Errorf("matrix.html names unreached points %d times, want once", n)
	}
	ce := pages["counterexamples/outbox_naive_orders_crash-consumer.html"]
	if !strings.Contains(ce, `<p class="coverage">`+line+`</p>`) {
		t.Errorf("the counterexample page does not say which points no run reached:\n%s", ce)
	}
}

// TestCoverageJSON: each cell carries its coverage per role under "coverage", unreached points
// included, with empty lists as [].
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
}
