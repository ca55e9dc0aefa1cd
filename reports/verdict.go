package reports

import (
	"fmt"
	"strings"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// severity grades a cell for a reader who decides between strategies: how often the worst
// broken invariant broke. The HTML report colours cells and bars by it; every grade also has a
// text, so it survives greyscale.
type severity int

const (
	sevNotRun   severity = iota // the pairing was not run under this fault
	sevOK                       // nothing broke
	sevRare                     // broken in under 10% of runs, or found only by the search
	sevFrequent                 // broken in 10% to 50% of runs
	sevMost                     // broken in half the runs or more
)

// class is the CSS class of a severity.
func (s severity) class() string {
	return [...]string{"sev-none", "sev-ok", "sev-low", "sev-mid", "sev-high"}[s]
}

// text describes a severity in the legend.
func (s severity) text() string {
	return [...]string{
		"not run",
		"nothing broke",
		"broken in under 10% of runs (or found only by the search)",
		"broken in 10% to 49% of runs",
		"broken in 50% of runs or more",
	}[s]
}

// severities lists the grades in legend order.
var severities = []severity{sevOK, sevRare, sevFrequent, sevMost, sevNotRun}

// share is the fraction of a result's runs that broke an invariant.
func share(r result.CellResult, name invariants.Name) float64 {
	if r.Runs <= 0 {
		return 0
	}
	return float64(r.Violations[name]) / float64(r.Runs)
}

// worstShare is the largest share of runs that broke any one invariant.
func worstShare(r result.CellResult) float64 {
	worst := 0.0
	for _, name := range broken(r) {
		worst = max(worst, share(r, name))
	}
	return worst
}

// severityOf grades a result by its worst broken invariant.
func severityOf(r result.CellResult) severity {
	if len(broken(r)) == 0 {
		return sevOK
	}
	switch s := worstShare(r); {
	case s >= 0.5:
		return sevMost
	case s >= 0.1:
		return sevFrequent
	default:
		return sevRare
	}
}

// invRate is one broken invariant of a cell as the HTML matrix shows it: "dup 37%".
type invRate struct {
	Invariant string
	Text      string
}

// rates lists the broken invariants of a result with the share of runs that broke each, as the
// Markdown matrix words them (rateSymbol), one a line.
func rates(r result.CellResult) []invRate {
	var out []invRate
	for _, name := range broken(r) {
		out = append(out, invRate{Invariant: string(name), Text: abbrev(name) + " " + percent(r.Violations[name], r.Runs)})
	}
	return out
}

// differences are the sentences that say how a result differs from the catalogue, or where the
// harness itself failed; none for a result that matches and settled.
func differences(r result.CellResult) []string {
	var out []string
	if u := r.Unexpected(); len(u) > 0 {
		out = append(out, fmt.Sprintf("Unexpected: %s, which the catalogue says cannot break here.", nameList(u, "")))
	}
	if m := r.Missing(); len(m) > 0 {
		out = append(out, fmt.Sprintf("Not found in %d runs: %s (more seeds may find it).", r.Runs, nameList(m, "")))
	}
	if r.Errors > 0 {
		out = append(out, capitalize(unsettledText(r))+".")
	}
	return out
}

// cellDetail is everything a matrix cell stands for, one statement a line: the cell, expected
// and observed outcomes, differences, search finds, the catalogue's reason, the fault points only
// some runs reached (with the runs that did) and those no run reached.
func cellDetail(r result.CellResult) string {
	lines := []string{
		cellTitle(r.Cell()),
		"Expected: " + nameList(r.Expected, "nothing broken") + ".",
		"Observed: " + observed(r) + ".",
	}
	if !r.Matches {
		lines = append(lines, "Differs from the catalogue.")
	}
	lines = append(lines, differences(r)...)
	if n := htmlSearchNote(r); n != "" {
		lines = append(lines, n)
	}
	if r.Reason != "" {
		lines = append(lines, "Reason: "+sentence(r.Reason))
	}
	if p := partlyReachedText(r); p != "" {
		lines = append(lines, capitalize(p)+".")
	}
	if u := unreachedText(r); u != "" {
		lines = append(lines, capitalize(u)+".")
	}
	return strings.Join(lines, "\n")
}

// unreachedText says which fault points the cell's strategies declare that no run reached:
// "points no run reached: producer: producer.after-commit; consumer: consumer.after-check";
// "" when every declared point was reached or coverage was not measured. A crash at such a point
// was never drawn, so the cell's verdict says nothing about it.
func unreachedText(r result.CellResult) string {
	u := r.Coverage.Unreached()
	if len(u) == 0 {
		return ""
	}
	parts := make([]string, len(u))
	for i, rc := range u {
		parts[i] = rc.Role + ": " + strings.Join(rc.Unreached, ", ")
	}
	return "points no run reached: " + strings.Join(parts, "; ")
}
