package reports

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// abbreviations are the short symbols of the catalogue's invariants in a matrix cell.
var abbreviations = map[invariants.Name]string{
	invariants.NoDuplicateEffect: "dup",
	invariants.NoLostEffect:      "lost",
	invariants.NoPhantomEffect:   "phantom",
	invariants.Converges:         "conv",
	invariants.Balance:           "bal",
	invariants.NoGhostMessage:    "ghost",
	invariants.SameOutput:        "2nd-out",
}

// abbrev is the matrix symbol of an invariant: its abbreviation, or its name when it has none.
func abbrev(name invariants.Name) string {
	if a, ok := abbreviations[name]; ok {
		return a
	}
	return string(name)
}

// legendItems explain the cell symbols, in catalogue order.
func legendItems() []string {
	parts := []string{"ok = nothing broke"}
	for _, name := range invariants.Names() {
		parts = append(parts, abbrev(name)+" = "+string(name))
	}
	parts = append(parts,
		"* = found only past the first seeds",
		"! = differs from the catalogue's expectation",
		"? = some runs did not settle (harness errors)",
		"- = not run")
	return parts
}

// legendText is the legend as one sentence.
func legendText() string { return strings.Join(legendItems(), ", ") }

// ordered returns the keys of counts in catalogue order, then the others sorted.
func ordered[V any](counts map[invariants.Name]V) []invariants.Name {
	var out []invariants.Name
	seen := make(map[invariants.Name]bool, len(counts))
	for _, name := range invariants.Names() {
		if _, ok := counts[name]; ok {
			out = append(out, name)
			seen[name] = true
		}
	}
	var rest []invariants.Name
	for name := range counts {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	slices.Sort(rest)
	return append(out, rest...)
}

// broken lists the invariants broken in at least one run: catalogue order, then the others sorted.
func broken(r result.CellResult) []invariants.Name {
	var out []invariants.Name
	for _, name := range ordered(r.Violations) {
		if _, found := r.FoundBySearch[name]; r.Violations[name] > 0 || found {
			out = append(out, name)
		}
	}
	return out
}

// symbol is a result's matrix cell: "ok" or the broken invariants' abbreviations joined by "+",
// then the marks (cellMarks).
func symbol(r result.CellResult) string {
	names := broken(r)
	if len(names) == 0 {
		return "ok" + cellMarks(r)
	}
	abbrs := make([]string, len(names))
	for i, n := range names {
		abbrs[i] = abbrev(n)
	}
	return strings.Join(abbrs, "+") + cellMarks(r)
}

// rateSymbol is a result's cell with the share of runs that broke each invariant: "dup 37%",
// "lost 2% + bal 2%", "<1%" below one run in a hundred, then the marks (cellMarks).
func rateSymbol(r result.CellResult) string {
	names := broken(r)
	if len(names) == 0 {
		return symbol(r)
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = abbrev(n) + " " + percent(r.Violations[n], r.Runs)
	}
	return strings.Join(parts, " + ") + cellMarks(r)
}

// cellMarks are a cell's marks: "*" when a break was found only by the search past the first
// seeds, "!" when the result differs from its expectation, "?" when runs did not settle.
func cellMarks(r result.CellResult) string {
	var s string
	if len(r.FoundBySearch) > 0 {
		s += "*"
	}
	if !r.Matches {
		s += "!"
	}
	if r.Errors > 0 {
		s += "?"
	}
	return s
}

// searchText says what the search past a cell's first runs drew and what it found, for a
// reader: "the search drew 36 more seeds: seed 41 broke no-duplicate-effect", then "no seed broke
// ..." for an expected break it did not find; "" when the search drew no seed.
//
// Under exhaustive exploration it is what the exploration ran instead (exploreText).
func searchText(r result.CellResult) string {
	if r.Bounds != nil {
		return exploreText(r)
	}
	if r.Searched == 0 {
		return ""
	}
	s := "the search drew 1 more seed"
	if r.Searched != 1 {
		s = fmt.Sprintf("the search drew %d more seeds", r.Searched)
	}
	bySeed := map[uint64][]string{}
	var seeds []uint64
	for _, name := range ordered(r.FoundBySearch) {
		seed := r.FoundBySearch[name]
		if _, ok := bySeed[seed]; !ok {
			seeds = append(seeds, seed)
		}
		bySeed[seed] = append(bySeed[seed], string(name))
	}
	slices.Sort(seeds)
	var parts []string
	for _, seed := range seeds {
		parts = append(parts, fmt.Sprintf("seed %d broke %s", seed, strings.Join(bySeed[seed], " and ")))
	}
	if m := r.Missing(); len(m) > 0 {
		parts = append(parts, "no seed broke "+invariants.Join(m, " or "))
	}
	if len(parts) == 0 {
		return s
	}
	return s + ": " + strings.Join(parts, ", ")
}

// exploreText says what an exhaustive exploration ran, for a reader: "explored 3 schedules within
// commands <= 1, faults <= 1, consumers <= the kind's minimum, 1 interleaving: all of them", then
// which expected break none of them showed; "" under random sampling.
func exploreText(r result.CellResult) string {
	if r.Bounds == nil {
		return ""
	}
	s := fmt.Sprintf("explored %s within %s: ", plural(r.Explored, "schedule"), r.Bounds)
	if r.Exhausted {
		s += "all of them"
	} else {
		s += "not all of them (a limit on schedules or a cancellation stopped it)"
	}
	if m := r.Missing(); len(m) > 0 {
		s += "; none broke " + invariants.Join(m, " or ")
		if r.Exhausted {
			s += ", which needs larger bounds"
		}
	}
	return s
}

// searchSentence is a cell's runs and its search in one sentence: "4 runs; the search drew 36
// more seeds: seed 41 broke no-duplicate-effect."; "" when the search drew no seed.
//
// Under exhaustive exploration it is what the exploration ran (exploreText), as a sentence.
func searchSentence(r result.CellResult) string {
	if r.Bounds != nil {
		return capitalize(exploreText(r)) + "."
	}
	if r.Searched == 0 {
		return ""
	}
	return capitalize(plural(r.Runs, "run")) + "; " + searchText(r) + "."
}

// unsettledText says how many runs, the search's included, did not settle: "2 runs of 100 did
// not settle".
func unsettledText(r result.CellResult) string {
	return fmt.Sprintf("%s of %d did not settle", plural(r.Errors, "run"), r.Runs+r.Searched)
}

// percent renders n of runs as a whole percentage; "<1%" when some but under one in a hundred.
func percent(n, runs int) string {
	switch {
	case runs == 0:
		return "-"
	case n > 0 && n*100 < runs:
		return "<1%"
	}
	return fmt.Sprintf("%d%%", (n*100+runs/2)/runs)
}

// nameList renders invariant names for people: "a, b", or none when the list is empty.
func nameList(names []invariants.Name, none string) string {
	if len(names) == 0 {
		return none
	}
	return invariants.Join(names, ", ")
}

// observed renders the broken invariants of a result with their counts.
func observed(r result.CellResult) string {
	names := broken(r)
	if len(names) == 0 {
		return "nothing broken"
	}
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s (%d/%d runs)", n, r.Violations[n], r.Runs)
	}
	return strings.Join(parts, ", ")
}

// cellTitle is "producer / consumer / workload under fault".
func cellTitle(c result.Cell) string {
	return fmt.Sprintf("%s / %s / %s under %s", c.Producer, c.Consumer, c.Workload, c.Fault) + onBroker(c.Broker)
}

// pair is the row label of a result: producer/consumer.
func pair(r result.CellResult) string { return r.Producer + "/" + r.Consumer + atBroker(r.Broker) }

// plural renders a count with its noun: "1 command", "2 commands", "0 faults".
func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// wrap breaks text into lines of at most width columns (a longer word stays whole). The first
// line starts with first, the others with indent.
func wrap(text string, width int, first, indent string) []string {
	words := strings.Fields(text)
	if len(words) == 0 {
		return []string{strings.TrimRight(first, " ")}
	}
	var lines []string
	line := first + words[0]
	for _, w := range words[1:] {
		if len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = indent + w
			continue
		}
		line += " " + w
	}
	return append(lines, line)
}

// wrapItems joins items with ", " into lines of at most width columns, never breaking an item.
// The first line starts with first, the others with indent.
func wrapItems(items []string, width int, first, indent string) []string {
	if len(items) == 0 {
		return []string{strings.TrimRight(first, " ")}
	}
	var lines []string
	line := first + items[0]
	for _, it := range items[1:] {
		if len(line)+2+len(it) > width {
			lines = append(lines, line+",")
			line = indent + it
			continue
		}
		line += ", " + it
	}
	return append(lines, line)
}

// pad left-aligns s in a field of width n.
func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}

// padLeft right-aligns s in a field of width n.
func padLeft(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return strings.Repeat(" ", n-len(s)) + s
}

// write sends a rendered report to w in one call.
func write(w io.Writer, b *strings.Builder) error {
	_, err := io.WriteString(w, b.String())
	return err
}

// distinct returns the distinct values of key over results, in order of first appearance.
func distinct(results []result.CellResult, key func(result.CellResult) string) []string {
	var out []string
	seen := make(map[string]bool)
	for _, r := range results {
		k := key(r)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// runsSummary describes the backends and runs per cell of results: "backend sim, 100 runs per cell".
func runsSummary(results []result.CellResult) string {
	backends := distinct(results, func(r result.CellResult) string { return r.Backend })
	sort.Strings(backends)
	var b strings.Builder
	switch {
	case len(backends) == 1 && backends[0] != "":
		fmt.Fprintf(&b, "backend %s", backends[0])
	case len(backends) > 1:
		fmt.Fprintf(&b, "backends %s", strings.Join(backends, ", "))
	}
	if len(results) > 0 {
		lo, hi := results[0].Runs, results[0].Runs
		for _, r := range results {
			lo, hi = min(lo, r.Runs), max(hi, r.Runs)
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		if lo == hi {
			fmt.Fprintf(&b, "%s per cell", plural(lo, "run"))
		} else {
			fmt.Fprintf(&b, "%d to %d runs per cell", lo, hi)
		}
	}
	if s := brokersSummary(results); s != "" {
		b.WriteString(", " + s)
	}
	if s := exploredSummary(results); s != "" {
		b.WriteString(", " + s)
	}
	return b.String()
}

// exploredSummary says, for cells run by exhaustive exploration, within which bounds and how many
// explored every schedule within them: "each a schedule, every one within commands <= 1, ...
// in 40 of 41 cells"; "" when no cell was explored.
func exploredSummary(results []result.CellResult) string {
	var bounds []string
	explored, exhausted := 0, 0
	for _, r := range results {
		if r.Bounds == nil {
			continue
		}
		explored++
		if r.Exhausted {
			exhausted++
		}
		if b := r.Bounds.String(); !slices.Contains(bounds, b) {
			bounds = append(bounds, b)
		}
	}
	if explored == 0 {
		return ""
	}
	return fmt.Sprintf("each run a schedule of an exhaustive exploration within %s; every schedule explored in %d of %d cells",
		strings.Join(bounds, "; "), exhausted, explored)
}

// totals is the summary of a set of results.
type totals struct {
	cells, runs, asExpected, differing, errors int
}

func summarize(results []result.CellResult) totals {
	var t totals
	for _, r := range results {
		t.cells++
		t.runs += r.Runs
		t.errors += r.Errors
		switch {
		case !r.Matches:
			t.differing++
		case len(broken(r)) > 0:
			t.asExpected++
		}
	}
	return t
}

// items are the parts of the summary line.
func (t totals) items() []string {
	out := []string{plural(t.cells, "cell"), plural(t.runs, "run"), plural(t.asExpected, "cell") + " broken as expected", fmt.Sprintf("%d differing", t.differing)}
	if t.errors > 0 {
		out = append(out, plural(t.errors, "run")+" did not settle")
	}
	return out
}

func (t totals) String() string { return strings.Join(t.items(), ", ") }
