package reports

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

func renderHTML(t *testing.T, results []result.CellResult) []byte {
	t.Helper()
	return render(t, func(b *bytes.Buffer) error { return HTML(b, results) })
}

func TestHTMLGolden(t *testing.T) {
	golden(t, "report.html", renderHTML(t, fixtureResults()))
}

// TestHTMLSelfContained: the page loads nothing from anywhere: no address, no source, no
// stylesheet or script, and every link points into the page.
func TestHTMLSelfContained(t *testing.T) {
	for name, results := range map[string][]result.CellResult{
		"fixture":   fixtureResults(),
		"one cell":  fixtureResults()[1:2],
		"simulated": simulated(t),
	} {
		t.Run(name, func(t *testing.T) {
			page := string(renderHTML(t, results))
			for _, bad := range []string{"http://", "https://", "src=", "<script", "<link", "@import", "url(", "<img", "<iframe", "<object"} {
				if strings.Contains(strings.ToLower(page), bad) {
					t.Errorf("the page contains %q", bad)
				}
			}
			ids := idsOf(t, page)
			for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(page, -1) {
				target, ok := strings.CutPrefix(m[1], "#")
				if !ok {
					t.Errorf("link %q leaves the page", m[1])
					continue
				}
				if !ids[target] {
					t.Errorf("link %q points to no element", m[1])
				}
			}
		})
	}
}

// idsOf parses page as XML (the template writes well-formed markup: void elements closed, SVG
// inline) and returns its ids, failing on a parse error or a repeated id.
func idsOf(t *testing.T, page string) map[string]bool {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(page))
	dec.Strict = true
	ids := map[string]bool{}
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			line, col := dec.InputPos()
			t.Fatalf("the page is not well-formed at %d:%d: %v", line, col, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			for _, a := range se.Attr {
				if a.Name.Local != "id" {
					continue
				}
				if ids[a.Value] {
					t.Errorf("id %q repeated", a.Value)
				}
				ids[a.Value] = true
			}
		}
	}
	return ids
}

// TestHTMLParses: the page is one well-formed document: doctype, html with head and body, the
// matrix tables, one chart per fault and workload, one sequence diagram per counterexample, each
// SVG fragment well-formed XML on its own.
func TestHTMLParses(t *testing.T) {
	page := string(renderHTML(t, fixtureResults()))
	if !strings.HasPrefix(page, "<!DOCTYPE html>\n<html lang=\"en\">") || !strings.HasSuffix(page, "</html>\n") {
		t.Errorf("the page does not start with a doctype and end with </html>")
	}
	idsOf(t, page)
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(page, -1)
	var charts, sequences int
	for _, s := range svgs {
		var root struct {
			XMLName xml.Name
			Class   string `xml:"class,attr"`
			Label   string `xml:"aria-label,attr"`
			Title   string `xml:"title"`
		}
		if err := xml.Unmarshal([]byte(s), &root); err != nil {
			t.Errorf("an SVG is not well-formed: %v\n%.300s", err, s)
			continue
		}
		if root.Label == "" || root.Title == "" {
			t.Errorf("an SVG has no accessible name: %.200s", s)
		}
		switch root.Class {
		case "chart":
			charts++
		case "sequence":
			sequences++
		}
	}
	// orders: 4 faults in one grid, 4 cost measures in another; prices: 2 faults, no cost.
	if charts != 3 {
		t.Errorf("%d charts, want 3", charts)
	}
	if sequences != 2 {
		t.Errorf("%d sequence diagrams, want one per counterexample (2)", sequences)
	}
	for _, want := range []string{
		`<table class="matrix" id="workload-orders">`,
		`<table class="matrix" id="workload-prices">`,
		`<section id="differing"`,
		`<article class="ce" id="ce-1"`,
		`<article class="ce" id="ce-2"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
}

// TestHTMLOrder: title and summary, matrix, charts, cost, differing cells, counterexamples.
func TestHTMLOrder(t *testing.T) {
	page := string(renderHTML(t, fixtureResults()))
	last := -1
	for _, s := range []string{"<h1>", `class="summary"`, `id="matrix"`, `class="legend"`, `id="violations"`, `id="cost"`, `id="differing"`, `id="counterexamples"`} {
		i := strings.Index(page, s)
		if i < 0 || i < last {
			t.Errorf("%s missing or out of order", s)
		}
		last = i
	}
}

// TestHTMLMatrixCell: a cell shows each broken invariant with its share, colour by severity,
// the marks, its full detail in the title, and links to its counterexample, which links back;
// the columns' faults are abbreviated, with their names in the title and under the tables.
func TestHTMLMatrixCell(t *testing.T) {
	page := string(renderHTML(t, fixtureResults()))
	for _, want := range []string{
		"<td id=\"cell-double-write_naive_orders_crash-consumer\" class=\"sev-mid\" title=\"double-write / naive / orders under crash-consumer\nExpected: no-duplicate-effect.\nObserved: no-duplicate-effect (37/100 runs).\nReason: The consumer dies",
		`<a href="#ce-1"><span class="rate">dup 37%</span></a></td>`,
		"<td id=\"cell-outbox_inbox-racy_orders_concurrent-consumers\" class=\"sev-ok differs\" title=\"outbox / inbox-racy / orders under concurrent-consumers\nExpected: no-duplicate-effect.\nObserved: nothing broken.\nDiffers from the catalogue.\nNot found in 100 runs: no-duplicate-effect (more seeds may find it).",
		`<span class="rate">ok</span><span class="marks">!</span>`,
		`<span class="rate">ok</span><span class="marks">?</span>`,
		`<span class="rate">phantom 21%</span><br /><span class="rate">conv 4%</span>`,
		`<td id="cell-outbox_inbox-racy_orders_none" class="sev-none" title="outbox / inbox-racy / orders under none: not run"><span aria-label="not run">–</span></td>`,
		`<th scope="col"><abbr title="crash-consumer">crash-c</abbr></th>`,
		`<th scope="row" class="pair"><span>double-write /</span> <span>naive</span></th>`,
		`Fault columns: crash-c = crash-consumer, part-brk = partition-broker, conc-con = concurrent-consumers, crash-p = crash-producer.`,
		`<p class="back"><a href="#cell-double-write_naive_orders_crash-consumer">Its cell in the matrix</a></p>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks\n%s", want)
		}
	}
}

func TestSeverity(t *testing.T) {
	base := result.CellResult{Runs: 100, Matches: true}
	cases := []struct {
		counts map[invariants.Name]int
		search map[invariants.Name]uint64
		want   severity
	}{
		{map[invariants.Name]int{invariants.NoDuplicateEffect: 0}, nil, sevOK},
		{map[invariants.Name]int{invariants.NoDuplicateEffect: 0}, map[invariants.Name]uint64{invariants.NoDuplicateEffect: 412}, sevRare},
		{map[invariants.Name]int{invariants.NoDuplicateEffect: 9}, nil, sevRare},
		{map[invariants.Name]int{invariants.NoDuplicateEffect: 10, invariants.NoLostEffect: 2}, nil, sevFrequent},
		{map[invariants.Name]int{invariants.NoDuplicateEffect: 3, invariants.NoLostEffect: 50}, nil, sevMost},
	}
	for _, c := range cases {
		r := base
		r.Violations, r.FoundBySearch = c.counts, c.search
		if got := severityOf(r); got != c.want {
			t.Errorf("%v %v: severity %s, want %s", c.counts, c.search, got.class(), c.want.class())
		}
	}
}

// TestHTMLEscapes: text from results cannot become markup.
func TestHTMLEscapes(t *testing.T) {
	results := fixtureResults()
	results[1].Reason = `<script>alert("x")</script> & more`
	ce := *results[1].Counterexample
	h := *ce.History
	h.Events = slices.Clone(h.Events)
	h.Events[0].Msg = `<img src=x onerror=alert(1)>`
	ce.History = &h
	results[1].Counterexample = &ce
	page := string(renderHTML(t, results))
	if strings.Contains(page, "<script") || strings.Contains(page, "<img") {
		t.Errorf("text from results became markup")
	}
	if !strings.Contains(page, "&lt;script&gt;") {
		t.Errorf("the reason is not shown escaped")
	}
	idsOf(t, page)
}

// TestHTMLCost: the cost charts use the cell without a fault, or say a pairing is averaged over
// its faults; a workload without cost says so.
func TestHTMLCost(t *testing.T) {
	page := string(renderHTML(t, fixtureResults()))
	for _, want := range []string{
		`aria-label="orders: cost per committed event of each producer/consumer pairing"`,
		`>DB statements</text>`,
		`>9.6</text>`,
		`Workload prices: no cost measured.`,
		`latency from the business commit to the effect, in simulated ms`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if strings.Contains(page, "†") {
		t.Errorf("no pairing is averaged in the fixture, yet one is marked †")
	}

	results := fixtureResults()
	results[0].Cost = nil // double-write/naive: no cell without a fault measured
	results[1].Cost = &result.Cost{Events: 100, DBStatements: 4, BrokerOps: 5, LatencyP50: 10, LatencyP99: 20}
	results[2].Cost = &result.Cost{Events: 100, DBStatements: 6, BrokerOps: 7, LatencyP50: 30, LatencyP99: 40}
	page = string(renderHTML(t, results))
	for _, want := range []string{`double-write/naive †</text>`, `>5</text>`, `>6</text>`, `>20</text>`, `>30</text>`, "a pairing marked † was not run without a fault and shows the mean over the faults it was run under"} {
		if !strings.Contains(page, want) {
			t.Errorf("averaged cost: the page lacks %s", want)
		}
	}
}

// TestNumberedLinesMatchTimeline: the diagram's rows are the text timeline's numbered lines.
func TestNumberedLinesMatchTimeline(t *testing.T) {
	ces := []*result.Counterexample{duplicateCE(), lostCE()}
	for _, r := range simulated(t) {
		if r.Counterexample != nil {
			ces = append(ces, r.Counterexample)
		}
	}
	for _, ce := range ces {
		tl := buildTimeline(ce, cellOf(ce), TimelineOptions{})
		d := sequenceDiagram(ce.History, ce.Violations, "x-")
		if len(d.Rows) != len(tl.rows) {
			t.Errorf("%s: %d diagram rows, %d timeline lines", cellOf(ce), len(d.Rows), len(tl.rows))
		}
		for i, r := range d.Rows {
			if r.N != i+1 || r.Tip != strings.TrimSpace(tl.rows[i]) {
				t.Errorf("%s: row %d is %d %q, want %q", cellOf(ce), i+1, r.N, r.Tip, tl.rows[i])
			}
		}
	}
}

// drawn describes a diagram row for comparison: "arrow producer->db commit order-1".
func drawn(d *seqDiagram, r seqRow) string {
	lane := func(x float64) string {
		for _, l := range d.Lanes {
			if l.X == x {
				return l.Name
			}
		}
		return fmt.Sprint(x)
	}
	switch r.Kind {
	case stepArrow:
		return fmt.Sprintf("arrow %s->%s %s %s", lane(r.X1), lane(r.X2), r.Style, r.Label)
	case stepBand:
		return fmt.Sprintf("band %s %s at %s", r.Style, r.Label, lane(r.LabelX))
	}
	return fmt.Sprintf("%s %s %s", r.Kind, lane(r.X1), r.Label)
}

func TestSequenceDiagramOfDuplicate(t *testing.T) {
	ce := duplicateCE()
	d := sequenceDiagram(ce.History, ce.Violations, "ce-1-ev")
	var lanes []string
	for _, l := range d.Lanes {
		lanes = append(lanes, l.Name)
	}
	if want := []string{"producer", "db", "broker", "consumer-1", "consumer-2"}; !slices.Equal(lanes, want) {
		t.Errorf("lanes %v, want %v", lanes, want)
	}
	want := []string{
		"arrow producer->db call insert order-1",
		"arrow producer->db call commit order-1",
		"box broker enqueue order-1",
		"arrow broker->consumer-1 reply deliver order-1",
		"arrow producer->broker call publish order-1",
		"box consumer-1 receive order-1",
		"arrow broker->producer reply confirm order-1",
		"box producer produce order-1",
		"arrow consumer-1->db call apply order-1",
		"arrow consumer-1->db call commit order-1",
		"band fault FAULT at consumer-1",
		"crash consumer-1 CRASH",
		"box broker requeue order-1",
		"arrow broker->consumer-2 reply deliver order-1",
		"box consumer-2 receive order-1",
		"arrow consumer-2->db call apply order-1",
		"arrow consumer-2->db call commit order-1",
		"arrow consumer-2->broker call ack order-1",
		"restart consumer-1 RESTART",
		"band quiet quiesce at producer",
	}
	if len(d.Rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(d.Rows), len(want))
	}
	for i, r := range d.Rows {
		if got := drawn(d, r); got != want[i] {
			t.Errorf("row %d: %s, want %s", i+1, got, want[i])
		}
		if r.Anchor != fmt.Sprintf("ce-1-ev%d", i+1) {
			t.Errorf("row %d links to %s", i+1, r.Anchor)
		}
	}
	for i, r := range d.Rows {
		marked := i == 8 || i == 15
		if r.Marked != marked {
			t.Errorf("row %d marked %v, want %v (%s)", i+1, r.Marked, marked, r.Mark)
		}
	}
	if d.Rows[15].Mark != "<== effect #2 of order-1 (duplicate)" {
		t.Errorf("row 16 mark %q", d.Rows[15].Mark)
	}
}

func TestSequenceDiagramOfLost(t *testing.T) {
	ce := lostCE()
	d := sequenceDiagram(ce.History, ce.Violations, "ce-2-ev")
	want := []string{
		"arrow producer->db call insert order-1",
		"arrow producer->db call commit order-1",
		"band fault FAULT at producer",
		"arrow producer->broker fail publish order-1 fail",
		"box producer produce order-1 fail",
		"band heal HEAL at producer",
		"band quiet quiesce at producer",
	}
	for i, r := range d.Rows {
		if got := drawn(d, r); i >= len(want) || got != want[i] {
			t.Errorf("row %d: %s", i+1, got)
		}
	}
	if d.Rows[3].Note != "(link cut)  (x3)" {
		t.Errorf("the collapsed publishes note %q, want the detail and (x3)", d.Rows[3].Note)
	}
	if !d.Rows[1].Marked || d.Rows[1].Mark != "<== committed, never applied" {
		t.Errorf("the lost commit is not marked: %+v", d.Rows[1])
	}
}

// TestSequenceDiagramGatewayAndRealDeliveries: a gateway send is an arrow from the consumer
// that applies the message; without the broker's deliver events (the real backend) a receive is
// the broker's arrow to the consumer; unknown outcomes are their own style.
func TestSequenceDiagramGatewayAndRealDeliveries(t *testing.T) {
	const ok, info = history.OK, history.Info
	events := []history.Event{
		ev(1, "relay", history.OpPublish, ok, "signup-1", ""),
		ev(2, "consumer-2", history.OpReceive, ok, "signup-1", ""),
		ev(3, "consumer-2", history.OpInbox, ok, "signup-1", ""),
		ev(4, "gateway", history.OpSend, info, "signup-1", "email to user-1"),
		ev(4, "consumer-2", history.OpApply, ok, "signup-1", ""),
		ev(5, "consumer-2", history.OpCommit, history.Unknown, "signup-1", "timeout"),
		ev(6, "consumer-2", history.OpNack, ok, "signup-1", ""),
		ev(7, "producer", history.OpInsert, ok, "signup-2", ""),
	}
	h := &history.History{Backend: "real", Events: events}
	v := invariants.Violation{Invariant: invariants.NoDuplicateEffect, Msgs: []string{"signup-1"}}
	d := sequenceDiagram(h, []invariants.Violation{v}, "e")
	var lanes []string
	for _, l := range d.Lanes {
		lanes = append(lanes, l.Name)
	}
	if want := []string{"producer", "db", "relay", "broker", "consumer-2", "gateway"}; !slices.Equal(lanes, want) {
		t.Errorf("lanes %v, want %v", lanes, want)
	}
	want := []string{
		"arrow relay->broker call publish signup-1",
		"arrow broker->consumer-2 reply receive signup-1",
		"arrow consumer-2->db call inbox signup-1",
		"arrow consumer-2->gateway call send signup-1",
		"arrow consumer-2->db call apply signup-1",
		"arrow consumer-2->db unknown commit signup-1 unknown",
		"arrow consumer-2->broker call nack signup-1",
		"arrow producer->db call insert signup-2",
	}
	for i, r := range d.Rows {
		if got := drawn(d, r); got != want[i] {
			t.Errorf("row %d: %s, want %s", i+1, got, want[i])
		}
	}
	if !d.Rows[3].Marked {
		t.Errorf("the email sent is not marked as the effect")
	}
}

// TestSequenceDiagramLongHistory: rows shrink so a long history stays within bounds, and the
// lane heads repeat at the foot.
func TestSequenceDiagramLongHistory(t *testing.T) {
	var events []history.Event
	for i := range 400 {
		events = append(events, ev(int64(i), fmt.Sprintf("consumer-%d", 1+i%3), history.OpCheck, history.OK, fmt.Sprintf("order-%d", i), ""))
	}
	d := sequenceDiagram(&history.History{Events: events}, nil, "e")
	if len(d.Rows) != 400 || !d.Foot {
		t.Fatalf("%d rows, foot %v", len(d.Rows), d.Foot)
	}
	if h := d.Rows[1].Top - d.Rows[0].Top; h != seqMinRowH {
		t.Errorf("row height %v, want the minimum %v", h, seqMinRowH)
	}
	short := sequenceDiagram(&history.History{Events: events[:10]}, nil, "e")
	if h := short.Rows[1].Top - short.Rows[0].Top; h != seqRowH || short.Foot {
		t.Errorf("a short history's rows are %v high (foot %v), want %v", h, short.Foot, seqRowH)
	}
}

func TestNiceMax(t *testing.T) {
	for in, want := range map[float64]float64{0: 1, 0.3: 0.5, 1: 1, 4: 5, 9.6: 10, 17: 20, 49: 50, 80: 100, 120: 200, 230: 250} {
		if got := niceMax(in); got != want {
			t.Errorf("niceMax(%v) = %v, want %v", in, got, want)
		}
	}
}
