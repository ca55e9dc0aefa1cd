package reports

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios/result"
)

//go:embed html.tmpl
var htmlSource string

// htmlTemplate draws the pages; html/template escapes every text that comes from results.
var htmlTemplate = template.Must(template.New("html").Funcs(template.FuncMap{"n": num}).Parse(htmlSource))

// HTML writes results as one self-contained HTML page, for a projector, print or an architecture
// decision: a summary; a decision matrix per workload (the share of runs that broke each
// invariant, coloured by severity, with the catalogue's expectation, the search's finds and the
// reason on each cell); bar charts of violations per strategy under each fault and of each
// strategy's cost; the cells that differ from the catalogue; and a section per counterexample
// with its sequence diagram, its numbered events and its violations. The page loads nothing:
// styles are inline, charts and diagrams are inline SVG, there is no script. It prints without
// dark backgrounds, each counterexample on a new page. The matrix reads in a 1280-pixel window:
// the fault columns are abbreviated (full names in their titles and under the tables), and a
// table still too wide scrolls within its frame with its row labels kept in view.
//
// HTML is the form for standard output (`--format html`): one cell from `run`, or a filtered
// matrix. Every counterexample is on the page, so the whole catalogue's page (some 700 diagrams)
// weighs about 13 MB and is slow to open; HTMLSite splits the same report into a light matrix
// page and a page per counterexample.
func HTML(w io.Writer, results []result.CellResult) error {
	var b bytes.Buffer
	if err := htmlTemplate.ExecuteTemplate(&b, "matrix", newHTMLPage(results, htmlLinks(results, false))); err != nil {
		return fmt.Errorf("reports: html: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Page is one file of an HTML report folder.
type Page struct {
	// Path is the file's path inside the folder, with forward slashes: "matrix.html",
	// "counterexamples/double-write_naive_orders_crash-consumer.html".
	Path string
	Body []byte
}

// Paths in an HTML report folder.
const (
	htmlMatrixPath = "matrix.html"
	htmlCEDir      = "counterexamples"
)

// CounterexampleName is the name, without extension, that a report folder gives the files of a
// cell's counterexample: "double-write_naive_orders_crash-consumer". HTMLSite's page is
// counterexamples/<name>.html; the timeline (.txt) and the scenario (.json) beside it share it.
func CounterexampleName(c result.Cell) string {
	return strings.ReplaceAll(c.String(), "/", "_")
}

// HTMLSite renders results as the pages of a report folder, as `simulate matrix --out` and the
// default run write it: matrix.html, with everything HTML shows but the counterexamples, and a
// page per counterexample, counterexamples/<CounterexampleName>.html, with its sequence diagram,
// events and violations under a header that repeats its cell's verdict and search. A matrix cell
// with a counterexample links to it; the page links back to the cell (every matrix cell has an
// id, "cell-<CounterexampleName>") and to the previous and next counterexample, in the order of
// results.
//
// A counterexample gets a page of its own, not one per workload: a workload's counterexamples
// weigh some 3 MB together, while one weighs tens of kilobytes, opens at once, and sits next to
// its timeline and scenario files. The matrix page holds no diagram. When it would still weigh
// more than a megabyte (the whole catalogue's, some 6,000 cells, would weigh 5 MB) and has more
// than one workload, it is split: matrix.html keeps the summary, the legend, the cells that
// differ from the catalogue and a link to each workload's page, matrix-<workload>.html, which
// holds that workload's table and charts; the reasons many of its cells share are written once
// under its table and named in the cells' titles. Each page then weighs under 1 MB, some 600 to
// 800 bytes a cell, and every link to a cell goes to the page that holds it. Every page is
// self-contained like HTML's: inline styles, inline SVG, no script, nothing fetched; the links
// between the pages are relative, so the folder can move.
func HTMLSite(results []result.CellResult) ([]Page, error) {
	return htmlSite(results, htmlMatrixBudget)
}

// htmlSite is HTMLSite with the size past which the matrix page is split by workload.
func htmlSite(results []result.CellResult, budget int) ([]Page, error) {
	links := htmlLinks(results, true)
	var b bytes.Buffer
	if err := htmlTemplate.ExecuteTemplate(&b, "matrix", newHTMLPage(results, links)); err != nil {
		return nil, fmt.Errorf("reports: html: %w", err)
	}
	pages := []Page{{Path: htmlMatrixPath, Body: bytes.Clone(b.Bytes())}}
	if b.Len() > budget {
		split, ok, err := htmlSplitMatrix(results, &links)
		if err != nil {
			return nil, err
		}
		if ok {
			pages = split
		}
	}
	var withCE []result.CellResult
	for _, r := range results {
		if r.Counterexample != nil {
			withCE = append(withCE, r)
		}
	}
	for i, r := range withCE {
		p := htmlCEPage{
			Title:  fmt.Sprintf("Counterexample %d of %d: %s", i+1, len(withCE), cellTitle(r.Cell())),
			Matrix: links.cellFromCE(r.Cell()),
			N:      i + 1,
			Total:  len(withCE),
			CE:     htmlCounterexampleOf(r, links, true),
		}
		if i > 0 {
			p.Prev = links.neighbour(withCE[i-1].Cell())
		}
		if i+1 < len(withCE) {
			p.Next = links.neighbour(withCE[i+1].Cell())
		}
		b.Reset()
		if err := htmlTemplate.ExecuteTemplate(&b, "counterexample-page", p); err != nil {
			return nil, fmt.Errorf("reports: html %s: %w", r.Cell(), err)
		}
		pages = append(pages, Page{Path: links.cePath(r.Cell()), Body: bytes.Clone(b.Bytes())})
	}
	return pages, nil
}

// htmlLinkSet says where a report's counterexamples are: their numbers, in the order of results,
// and whether each is on its own page (HTMLSite) or on the one page (HTML).
type htmlLinkSet struct {
	site    bool
	numbers map[result.Cell]int // 1, 2, ... for each cell with a counterexample
	// workloads maps a workload to the page that holds its matrix, when the matrix page is split
	// by workload (htmlSplitMatrix); nil when every cell is on matrix.html.
	workloads map[string]string
}

func htmlLinks(results []result.CellResult, site bool) htmlLinkSet {
	l := htmlLinkSet{site: site, numbers: map[result.Cell]int{}}
	for _, r := range results {
		if r.Counterexample != nil {
			l.numbers[r.Cell()] = len(l.numbers) + 1
		}
	}
	return l
}

// cellID is the id of a cell in the matrix.
func cellID(c result.Cell) string { return "cell-" + CounterexampleName(c) }

// ceID is the id of a counterexample's article: ce-1, ce-2, ... in the order of results; its
// events are ce-1-ev1, ce-1-ev2, ...
func (l htmlLinkSet) ceID(c result.Cell) string { return fmt.Sprintf("ce-%d", l.numbers[c]) }

// cePath is the path of a counterexample's page in the folder.
func (l htmlLinkSet) cePath(c result.Cell) string {
	return htmlCEDir + "/" + CounterexampleName(c) + ".html"
}

// ceFromMatrix links the matrix page to a cell's counterexample; "" when it has none.
func (l htmlLinkSet) ceFromMatrix(c result.Cell) string {
	if _, ok := l.numbers[c]; !ok {
		return ""
	}
	if l.site {
		return l.cePath(c) + "#" + l.ceID(c)
	}
	return "#" + l.ceID(c)
}

// cellFromCE links a counterexample back to its cell in the matrix.
func (l htmlLinkSet) cellFromCE(c result.Cell) string {
	if l.site {
		return "../" + l.matrixPage(c) + "#" + cellID(c)
	}
	return "#" + cellID(c)
}

// matrixPage is the page of the folder that holds a cell of the matrix.
func (l htmlLinkSet) matrixPage(c result.Cell) string {
	if p := l.workloads[c.Workload]; p != "" {
		return p
	}
	return htmlMatrixPath
}

// cellFromMatrix links a page at the folder's top (matrix.html or a workload's page) to a cell.
func (l htmlLinkSet) cellFromMatrix(c result.Cell) string {
	if p := l.workloads[c.Workload]; p != "" {
		return p + "#" + cellID(c)
	}
	return "#" + cellID(c)
}

// neighbour links a counterexample's page to another's, in the same folder.
func (l htmlLinkSet) neighbour(c result.Cell) *htmlNavLink {
	return &htmlNavLink{Href: CounterexampleName(c) + ".html#" + l.ceID(c), Title: cellTitle(c)}
}

// htmlPage is everything the matrix page shows, in order.
type htmlPage struct {
	Title       string // the document's title
	Heading     string
	Summary     string
	Reading     string // how to read the matrix
	Severities  []htmlSwatch
	Symbols     []string
	FaultNames  []string // the abbreviated fault columns: "crash-c = crash-consumer"
	Workloads   []htmlWorkload
	LatencyUnit string
	// Parts link the overview of a split matrix (htmlSplitMatrix) to each workload's page.
	Parts []htmlPart
	// Overview links a workload's page of a split matrix back to matrix.html; "" elsewhere.
	Overview string
	// Notes are the parts of reasons that many cells of a workload's page share (shareReasons).
	Notes     []htmlNote
	Differing []htmlDiffering
	// Counterexamples are the sections of the single page (HTML); HTMLSite's matrix page has none.
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

// htmlFault is a column header: the fault's abbreviation (shortFault), its full name in the title;
// Short is empty when the name is short already.
type htmlFault struct {
	Name  string
	Short string
}

// htmlRow is a producer/consumer pairing's row; the label may wrap between the two.
type htmlRow struct {
	Producer, Consumer string
	Cells              []htmlCell
}

// htmlCell is one cell of the decision matrix.
type htmlCell struct {
	ID     string
	Class  string // severity, plus "differs"
	NotRun bool
	Rates  []invRate // the broken invariants; none means ok
	Marks  string    // "*", "!", "?"
	Detail string    // the title attribute: expected, observed, search, reason
	Link   string    // to the counterexample
}

// htmlDiffering is a cell that differs from the catalogue.
type htmlDiffering struct {
	Cell                      string // the link to the matrix cell: "#cell-...", or its workload's page
	Title, Expected, Observed string
	Notes                     []string
	Reason                    string
	Link                      string
}

// htmlCEPage is a counterexample's own page.
type htmlCEPage struct {
	Title      string
	Matrix     string // back to the cell in the matrix
	N, Total   int
	Prev, Next *htmlNavLink
	CE         htmlCounterexample
}

type htmlNavLink struct{ Href, Title string }

// htmlCounterexample is one counterexample: a section of the single page, or its own page.
type htmlCounterexample struct {
	ID          string
	Own         bool   // on its own page: the title is the page's heading
	Back        string // to its cell in the matrix
	Title       string
	Broken      string
	Verdict     string // observed and expected
	Differences []string
	Reason      string
	Search      string // what the search past the first runs drew and found
	Coverage    string // the fault points the cell's runs reached, with the runs that did, and those none reached; "" when not measured
	Seed        string // the seed, the shrunk size and the schedule
	Replay      []string
	Notes       []string
	Diagram     *seqDiagram
	Events      []htmlEvent
	Violations  []htmlViolation
}

// htmlEvent is one numbered line of a counterexample's event list.
type htmlEvent struct {
	ID, Time, Proc, Op, Msg, Outcome, Note, Mark string
	Class                                        string
}

type htmlViolation struct{ Invariant, Text string }

func newHTMLPage(results []result.CellResult, links htmlLinkSet) htmlPage {
	p := htmlPage{
		Heading:     "Delivery matrix",
		Summary:     summaryText(results),
		Symbols:     legendItems(),
		LatencyUnit: latencyUnit(results),
		Reading: "Each cell names the invariants that broke with the share of runs that broke them " +
			"(dup 37% = no-duplicate-effect broke in 37% of the runs); its colour grades the worst one. " +
			"Hover a cell for what the catalogue expected and why; a cell with a counterexample links to it.",
	}
	if links.site && len(links.numbers) > 0 {
		p.Reading = strings.TrimSuffix(p.Reading, ".") + fmt.Sprintf(", on a page of its own (%s under %s/).",
			plural(len(links.numbers), "counterexample"), htmlCEDir)
	}
	if c := coverageSummary(results); c != "" {
		p.Reading += " A cell's title also names the fault points only some of its runs reached, and those none did. " +
			capitalize(c) + "."
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
	for _, f := range distinct(results, func(r result.CellResult) string { return r.Fault }) {
		if s := shortFault(f); s != f {
			p.FaultNames = append(p.FaultNames, s+" = "+f)
		}
	}
	cells := make(map[result.Cell]result.CellResult, len(results))
	for _, r := range results {
		cells[r.Cell()] = r
	}
	for _, bl := range matrixBlocks(results) {
		p.Workloads = append(p.Workloads, htmlWorkloadOf(bl, cells, links, p.LatencyUnit))
	}
	for _, r := range results {
		if !r.Matches {
			p.Differing = append(p.Differing, htmlDifferingOf(r, links.cellFromMatrix(r.Cell()), links.ceFromMatrix(r.Cell())))
		}
	}
	if !links.site {
		for _, r := range results {
			if r.Counterexample != nil {
				p.Counterexamples = append(p.Counterexamples, htmlCounterexampleOf(r, links, false))
			}
		}
	}
	return p
}

// summaryText is the summary sentence the Markdown report opens with.
func summaryText(results []result.CellResult) string {
	if s := runsSummary(results); s != "" {
		return fmt.Sprintf("%s: %s.", capitalize(s), summarize(results))
	}
	return capitalize(summarize(results).String()) + "."
}

// latencyUnit is the unit of the latencies: simulated milliseconds unless every result comes
// from real servers.
func latencyUnit(results []result.CellResult) string {
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

func htmlWorkloadOf(bl block, cells map[result.Cell]result.CellResult, links htmlLinkSet, unit string) htmlWorkload {
	wl := htmlWorkload{Name: bl.workload, ID: "workload-" + bl.workload}
	for _, f := range bl.faults {
		h := htmlFault{Name: f}
		if s := shortFault(f); s != f {
			h.Short = s
		}
		wl.Faults = append(wl.Faults, h)
	}
	for _, row := range bl.rows {
		producer, consumer, _ := strings.Cut(row, "/")
		hr := htmlRow{Producer: producer, Consumer: consumer}
		for _, f := range bl.faults {
			c := cellOfRow(bl.workload, row, f)
			r, ok := cells[c]
			if !ok {
				hr.Cells = append(hr.Cells, htmlCell{ID: cellID(c), Class: sevNotRun.class(), NotRun: true, Detail: cellTitle(c) + ": not run"})
				continue
			}
			hr.Cells = append(hr.Cells, htmlCellOf(r, links.ceFromMatrix(c)))
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

func htmlCellOf(r result.CellResult, link string) htmlCell {
	c := htmlCell{ID: cellID(r.Cell()), Class: severityOf(r).class(), Rates: rates(r), Detail: cellDetail(r), Link: link, Marks: cellMarks(r)}
	if !r.Matches {
		c.Class += " differs"
	}
	return c
}

func htmlDifferingOf(r result.CellResult, cell, link string) htmlDiffering {
	d := htmlDiffering{
		Cell:     cell,
		Title:    cellTitle(r.Cell()),
		Expected: nameList(r.Expected, "nothing broken"),
		Observed: observed(r),
		Notes:    differences(r),
		Reason:   sentence(r.Reason),
		Link:     link,
	}
	if s := htmlSearchNote(r); s != "" {
		d.Notes = append(d.Notes, s)
	}
	return d
}

// htmlSearchNote is a cell's runs and the search past them in one sentence, worded as the text
// and Markdown reports word it (searchSentence): "4 runs; the search drew 36 more seeds: seed 41
// broke no-duplicate-effect."; "" when the search drew no seed. The cell's title and its
// counterexample's header say it.
func htmlSearchNote(r result.CellResult) string { return searchSentence(r) }

func htmlCounterexampleOf(r result.CellResult, links htmlLinkSet, own bool) htmlCounterexample {
	ce := r.Counterexample
	id := links.ceID(r.Cell())
	t := buildTimeline(ce, r.Cell(), TimelineOptions{})
	c := htmlCounterexample{
		ID:          id,
		Own:         own,
		Back:        links.cellFromCE(r.Cell()),
		Title:       cellTitle(t.cell),
		Broken:      t.broken,
		Verdict:     fmt.Sprintf("Observed %s; expected %s.", observed(r), nameList(r.Expected, "nothing broken")),
		Differences: differences(r),
		Reason:      sentence(r.Reason),
		Search:      htmlSearchNote(r),
		Seed:        sentence(t.seed),
		Replay:      t.replay,
		Notes:       t.notes,
	}
	var cov []string
	for _, text := range []string{reachedText(r), unreachedText(r)} {
		if text != "" {
			cov = append(cov, capitalize(text)+".")
		}
	}
	c.Coverage = strings.Join(cov, " ")
	for _, v := range t.violations {
		c.Violations = append(c.Violations, htmlViolation{Invariant: string(v.Invariant), Text: violationText(v)})
	}
	if ce.History == nil {
		return c
	}
	c.Diagram = sequenceDiagram(ce.History, ce.Violations, id+"-ev")
	for _, l := range t.lines {
		c.Events = append(c.Events, htmlEventOf(l, fmt.Sprintf("%s-ev%d", id, l.Num)))
	}
	return c
}

func htmlEventOf(l TimelineLine, id string) htmlEvent {
	e := htmlEvent{ID: id, Time: fmt.Sprintf("t=%d", l.Time), Proc: l.Proc, Op: l.op(), Msg: l.Msg, Outcome: string(l.Outcome), Note: noteOf(l)}
	if m := l.Marker(); m != "" {
		e.Mark = "<== " + m
		e.Class = "marked"
	}
	if l.Infra() {
		e.Class = strings.TrimSpace(e.Class + " infra-fault")
	}
	if l.Outcome == history.Fail || l.Outcome == history.Unknown {
		e.Class = strings.TrimSpace(e.Class + " outcome-" + string(l.Outcome))
	}
	return e
}
