package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/deliveryharness/harness/scenarios"
)

//go:embed html.tmpl
var htmlSource string

// htmlTemplate draws the page; html/template escapes every text that comes from results.
var htmlTemplate = template.Must(template.New("page").Funcs(template.FuncMap{"n": num}).Parse(htmlSource))

// HTML writes results as one self-contained HTML page for architecture decisions and for a
// projector: a summary; a decision matrix per workload (the share of runs that broke each
// invariant, coloured by severity, with the catalogue's expectation and reason on each cell);
// bar charts of violations per strategy under each fault and of each strategy's cost; the cells
// that differ from the catalogue; and a section per counterexample with its sequence diagram, its
// numbered events and its violations. The page loads nothing: styles are inline, charts and
// diagrams are inline SVG, there is no script. It prints without dark backgrounds, each
// counterexample on a new page.
func HTML(w io.Writer, results []scenarios.CellResult) error {
	var b bytes.Buffer
	if err := htmlTemplate.Execute(&b, newHTMLPage(results)); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// htmlPage is everything the page shows, in order.
type htmlPage struct {
	Title           string // the document's title
	Heading         string
	Summary         string
	Reading         string // how to read the matrix
	Severities      []htmlSwatch
	Symbols         []string
	Workloads       []htmlWorkload
	LatencyUnit     string
	Differing       []htmlDiffering
	Counterexamples []htmlCounterexample
}

type htmlSwatch struct{ Class, Sample, Text string }

// htmlWorkload is one workload's matrix and charts.
type htmlWorkload struct {
	Name         string
	ID           string
	Faults       []htmlFault
	Rows         []htmlRow
	Violations   []svgChart
	Costs        []svgChart
	CostAveraged bool // some pairing's cost is a mean over faults
}

// htmlFault is a column header: the fault's name in parts that may wrap after their hyphens.
type htmlFault struct {
	Name  string
	Parts []string
}

type htmlRow struct {
	Label string
	Cells []htmlCell
}

// htmlCell is one cell of the decision matrix.
type htmlCell struct {
	Class  string // severity, plus "differs"
	NotRun bool
	Rates  []invRate // the broken invariants; none means ok
	Marks  string    // "*", "!", "?"
	Detail string    // the title attribute: expected, observed, reason
	Link   string    // the counterexample's anchor
}

// htmlDiffering is a cell that differs from the catalogue.
type htmlDiffering struct {
	Title, Expected, Observed string
	Notes                     []string
	Reason                    string
	Link                      string
}

// htmlCounterexample is one counterexample's section.
type htmlCounterexample struct {
	ID         string
	Title      string
	Broken     string
	Verdict    string // observed and expected
	Reason     string
	Seed       string // the seed, the shrunk size and the schedule
	Replay     []string
	Notes      []string
	Diagram    *seqDiagram
	Events     []htmlEvent
	Violations []htmlViolation
}

// htmlEvent is one numbered line of a counterexample's event list.
type htmlEvent struct {
	ID, Time, Proc, Op, Msg, Outcome, Note, Mark string
	Class                                        string
}

type htmlViolation struct{ Invariant, Text string }

func newHTMLPage(results []scenarios.CellResult) htmlPage {
	p := htmlPage{
		Heading:     "Delivery matrix",
		Summary:     summaryText(results),
		Symbols:     legendItems(),
		LatencyUnit: latencyUnit(results),
		Reading: "Each cell names the invariants that broke with the share of runs that broke them " +
			"(dup 37% = no-duplicate-effect broke in 37% of the runs); its colour grades the worst one. " +
			"Hover a cell for what the catalogue expected and why; a cell with a counterexample links to it.",
	}
	if len(results) == 1 {
		p.Heading = cellTitle(results[0].Cell())
	}
	p.Title = p.Heading
	if s := runsSummary(results); s != "" {
		p.Title += ": " + s
	}
	for _, s := range severities {
		p.Severities = append(p.Severities, htmlSwatch{Class: s.class(), Sample: swatchSample(s), Text: s.text()})
	}
	anchors := counterexampleAnchors(results)
	cells := make(map[scenarios.Cell]scenarios.CellResult, len(results))
	for _, r := range results {
		cells[r.Cell()] = r
	}
	for _, bl := range matrixBlocks(results) {
		p.Workloads = append(p.Workloads, htmlWorkloadOf(bl, cells, anchors, p.LatencyUnit))
	}
	for _, r := range results {
		if !r.Matches {
			p.Differing = append(p.Differing, htmlDifferingOf(r, anchors[r.Cell()]))
		}
	}
	for _, r := range results {
		if r.Counterexample != nil {
			p.Counterexamples = append(p.Counterexamples, htmlCounterexampleOf(r, anchors[r.Cell()]))
		}
	}
	return p
}

// summaryText is the summary sentence the Markdown report opens with.
func summaryText(results []scenarios.CellResult) string {
	if s := runsSummary(results); s != "" {
		return fmt.Sprintf("%s: %s.", capitalize(s), summarize(results))
	}
	return capitalize(summarize(results).String()) + "."
}

// latencyUnit is the unit of the latencies: simulated milliseconds unless every result comes
// from real servers.
func latencyUnit(results []scenarios.CellResult) string {
	for _, r := range results {
		if r.Backend != "real" {
			return "simulated ms"
		}
	}
	return "ms"
}

// swatchSample is the text a legend swatch shows.
func swatchSample(s severity) string {
	switch s {
	case sevNotRun:
		return "–"
	case sevRare:
		return "dup 4%"
	case sevFrequent:
		return "dup 37%"
	case sevMost:
		return "dup 80%"
	}
	return "ok"
}

// counterexampleAnchors names the section of each cell's counterexample: ce-1, ce-2, ...
func counterexampleAnchors(results []scenarios.CellResult) map[scenarios.Cell]string {
	out := map[scenarios.Cell]string{}
	for _, r := range results {
		if r.Counterexample != nil {
			out[r.Cell()] = fmt.Sprintf("ce-%d", len(out)+1)
		}
	}
	return out
}

func htmlWorkloadOf(bl block, cells map[scenarios.Cell]scenarios.CellResult, anchors map[scenarios.Cell]string, unit string) htmlWorkload {
	wl := htmlWorkload{Name: bl.workload, ID: "workload-" + bl.workload}
	for _, f := range bl.faults {
		wl.Faults = append(wl.Faults, htmlFault{Name: f, Parts: hyphenParts(f)})
	}
	for _, row := range bl.rows {
		hr := htmlRow{Label: strings.Replace(row, "/", " / ", 1)}
		for _, f := range bl.faults {
			r, ok := cells[cellOfRow(bl.workload, row, f)]
			if !ok {
				hr.Cells = append(hr.Cells, htmlCell{Class: sevNotRun.class(), NotRun: true, Detail: cellTitle(cellOfRow(bl.workload, row, f)) + ": not run"})
				continue
			}
			hr.Cells = append(hr.Cells, htmlCellOf(r, anchors[r.Cell()]))
		}
		wl.Rows = append(wl.Rows, hr)
	}
	for _, g := range violationGrid(bl, cells).grids() {
		wl.Violations = append(wl.Violations, g.layout())
	}
	if g, averaged, ok := costGrid(bl, cells, unit); ok {
		for _, part := range g.grids() {
			wl.Costs = append(wl.Costs, part.layout())
		}
		wl.CostAveraged = averaged
	}
	return wl
}

// hyphenParts splits a name after its hyphens, keeping them: "crash-consumer" -> "crash-", "consumer".
func hyphenParts(s string) []string {
	parts := strings.SplitAfter(s, "-")
	if parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

func htmlCellOf(r scenarios.CellResult, link string) htmlCell {
	c := htmlCell{Class: severityOf(r).class(), Rates: rates(r), Detail: cellDetail(r), Link: link, Marks: cellMarks(r)}
	if !r.Matches {
		c.Class += " differs"
	}
	return c
}

func htmlDifferingOf(r scenarios.CellResult, link string) htmlDiffering {
	return htmlDiffering{
		Title:    cellTitle(r.Cell()),
		Expected: nameList(r.Expected, "nothing broken"),
		Observed: observed(r),
		Notes:    differences(r),
		Reason:   sentence(r.Reason),
		Link:     link,
	}
}

func htmlCounterexampleOf(r scenarios.CellResult, id string) htmlCounterexample {
	ce := r.Counterexample
	t := buildTimeline(ce, r.Cell(), TimelineOptions{})
	c := htmlCounterexample{
		ID:      id,
		Title:   cellTitle(t.cell),
		Broken:  t.broken,
		Verdict: fmt.Sprintf("Observed %s; expected %s.", observed(r), nameList(r.Expected, "nothing broken")),
		Reason:  sentence(r.Reason),
		Seed:    sentence(t.seed),
		Replay:  t.replay,
		Notes:   t.notes,
	}
	for _, v := range t.violations {
		c.Violations = append(c.Violations, htmlViolation{Invariant: v.Invariant, Text: violationText(v)})
	}
	if ce.History == nil {
		return c
	}
	c.Diagram = sequenceDiagram(ce.History, ce.Violations, id+"-ev")
	entries := numberedLines(ce.History.Events, markEffects(ce.History.Events, ce.Violations))
	for k, en := range entries {
		c.Events = append(c.Events, htmlEventOf(en.line, fmt.Sprintf("%s-ev%d", id, k+1)))
	}
	return c
}

func htmlEventOf(l line, id string) htmlEvent {
	e := htmlEvent{ID: id, Time: fmt.Sprintf("t=%d", l.time), Proc: l.proc, Op: l.op, Msg: l.msg, Outcome: l.outcome, Note: noteOf(l)}
	if len(l.marks) > 0 {
		e.Mark = "<== " + strings.Join(l.marks, "; ")
		e.Class = "marked"
	}
	if l.op == strings.ToUpper(l.op) {
		e.Class = strings.TrimSpace(e.Class + " infra-fault")
	}
	if l.outcome == "fail" || l.outcome == "unknown" {
		e.Class = strings.TrimSpace(e.Class + " outcome-" + l.outcome)
	}
	return e
}
