package reports

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// searchResults are cells that drew seeds past their first runs: one whose search found the
// expected break (with its counterexample), one whose search found the expected break and one
// the catalogue rules out, some searched runs not settling, and one whose search found nothing.
func searchResults() []result.CellResult {
	dup := []invariants.Name{"no-duplicate-effect"}
	found := cellResult("double-write", "naive", "orders", "crash-consumer", 4, ordersCounts(0, 0, 0), dup, true,
		"the consumer dies after the payment commits and before its ack; the broker redelivers and the naive consumer pays again")
	found.Searched, found.FoundBySearch = 37, map[invariants.Name]uint64{"no-duplicate-effect": 41}
	found.Counterexample = duplicateCE()
	found.Counterexample.Seed = 41

	unexpected := cellResult("outbox", "inbox-racy", "orders", "concurrent-consumers", 100, ordersCounts(0, 0, 0), dup, false,
		"two consumers both find the message unprocessed before either records it, and both pay")
	unexpected.Searched = 130
	unexpected.FoundBySearch = map[invariants.Name]uint64{"no-duplicate-effect": 230, "no-lost-effect": 118}
	unexpected.Errors = 2

	prices := map[invariants.Name]int{"no-lost-effect": 0, "no-phantom-effect": 0, "converges": 0}
	missing := cellResult("publish-first", "natural", "prices", "crash-producer", 100, prices, []invariants.Name{"converges"}, false,
		"a crash between publish and commit leaves a price nobody set")
	missing.Searched = 900

	plain := cellResult("outbox", "inbox", "orders", "crash-consumer", 100, ordersCounts(0, 0, 0), nil, true,
		"the redelivered copy finds its inbox row and is acked without a second payment")
	return []result.CellResult{found, unexpected, plain, missing}
}

// TestSearchGolden: the text and Markdown reports say how many seeds the search drew past the
// first runs and which seed broke what.
func TestSearchGolden(t *testing.T) {
	results := searchResults()
	cases := []struct {
		name string
		f    func(*bytes.Buffer) error
	}{
		{"cell-search", func(b *bytes.Buffer) error { return Cell(b, results[0]) }},
		{"cell-search-differs", func(b *bytes.Buffer) error { return Cell(b, results[1]) }},
		{"matrix-search", func(b *bytes.Buffer) error { return Matrix(b, results, MatrixOptions{}) }},
		{"markdown-search", func(b *bytes.Buffer) error { return Markdown(b, results) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { golden(t, tc.name, render(t, tc.f)) })
	}
}

func TestSearchText(t *testing.T) {
	results := searchResults()
	tests := []struct {
		name string
		r    result.CellResult
		want string
	}{
		{"found", results[0], "the search drew 37 more seeds: seed 41 broke no-duplicate-effect"},
		{"found two", results[1], "the search drew 130 more seeds: seed 118 broke no-lost-effect, seed 230 broke no-duplicate-effect"},
		{"none drawn", results[2], ""},
		{"found nothing", results[3], "the search drew 900 more seeds: no seed broke converges"},
		{"one seed, two breaks", result.CellResult{Runs: 4, Searched: 1, Violations: ordersCounts(0, 0, 0),
			FoundBySearch: map[invariants.Name]uint64{"no-lost-effect": 5, "no-duplicate-effect": 5}},
			"the search drew 1 more seed: seed 5 broke no-duplicate-effect and no-lost-effect"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := searchText(tc.r); got != tc.want {
				t.Errorf("searchText = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSearchJSON: the JSON carries what the search drew and found under its contract names.
func TestSearchJSON(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, searchResults()); err != nil {
		t.Fatal(err)
	}
	var doc JSONReport
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	c := doc.Cells[1]
	if c.Searched != 130 || c.FoundBySearch["no-lost-effect"] != 118 || c.FoundBySearch["no-duplicate-effect"] != 230 || c.Errors != 2 || c.Matches {
		t.Errorf("cell %+v, want searched 130, found_by_search lost 118 and dup 230, 2 errors, not matching", c)
	}
	if strings.Count(b.String(), `"searched"`) != 3 {
		t.Errorf("want \"searched\" on the three cells that searched:\n%s", b.String())
	}
}
