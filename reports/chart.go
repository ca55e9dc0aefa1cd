package reports

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/deliveryharness/harness/scenarios/result"
)

// Bar charts of the HTML report: small multiples of horizontal bar charts. A grid is one SVG:
// the producer/consumer pairings down the left, once, and side by side a panel per fault (or per
// measure of cost), each with its own scale and a bar per pairing, so a row reads across the
// faults. Sizes are estimated from character counts (chartCharW per character, generous for the
// system fonts), so no label is clipped; numbers are formatted to fixed precision, so the same
// results give the same bytes.

const (
	chartFont     = 16.0
	chartCharW    = chartFont * 0.62
	chartBoldW    = chartFont * 0.7 // the values are bold
	chartTitleW   = 18 * 0.7        // the panels' titles are larger and bold
	chartPad      = 8.0
	chartTitleY   = 24.0
	chartTop      = 42.0 // the first bar, below the titles
	chartRowH     = 28.0
	chartBarH     = 18.0
	chartBarW     = 150.0 // a scale's full length
	chartGap      = 44.0  // between panels
	chartPerGrid  = 4     // panels per SVG, so a grid fits a projector's width
	chartAxisText = 20.0  // tick labels below the axis
)

// barPanel is one chart of a grid before layout: a scale and a bar per row of the grid.
type barPanel struct {
	Title string // drawn above the bars: a fault, or a measure
	Axis  string // the scale's unit, under it
	Max   float64
	Ticks []float64
	Tick  func(float64) string
	Rows  []barRow
}

// barRow is one bar: its value on the panel's scale and how it reads.
type barRow struct {
	Value float64 // 0..Max
	Text  string  // the value as printed after the bar
	Class string  // the bar's CSS class (its colour)
	Tip   string  // the full detail, shown on hover
}

// chartGrid is panels sharing their rows, drawn side by side in one SVG.
type chartGrid struct {
	Desc   string   // the accessible name: what the grid shows
	Labels []string // the rows: producer/consumer pairings
	Panels []barPanel
}

// svgChart is a laid-out grid: what the "bars" template draws.
type svgChart struct {
	Desc          string
	Width, Height float64
	GridTop       float64
	TitleY        float64
	AxisY         float64 // the axes' line
	TickY         float64 // the tick labels' baseline
	UnitY         float64 // the units' baseline
	BarH          float64
	RowH          float64
	LabelX        float64 // the row labels' right edge
	Labels        []svgLabel
	Stripes       []float64 // the tops of every other row's background, to read a row across
	Panels        []svgPanel
}

type svgLabel struct {
	Text string
	Y    float64
}

// svgPanel is one laid-out panel: its scale runs from X0 to X1.
type svgPanel struct {
	Title  string
	Axis   string
	X0, X1 float64
	Ticks  []svgTick
	Bars   []svgBar
}

type svgBar struct {
	Text, Class, Tip string
	Y, TextY         float64
	W, ValueX        float64
}

type svgTick struct {
	X    float64
	Text string
}

// textWidth estimates the width of s in a font whose characters are charW wide.
func textWidth(s string, charW float64) float64 {
	return float64(len([]rune(s))) * charW
}

// grids splits a grid into grids of at most chartPerGrid panels, each its own SVG.
func (g chartGrid) grids() []chartGrid {
	var out []chartGrid
	for i := 0; i < len(g.Panels); i += chartPerGrid {
		part := g
		part.Panels = g.Panels[i:min(i+chartPerGrid, len(g.Panels))]
		if len(g.Panels) > chartPerGrid {
			titles := make([]string, len(part.Panels))
			for j, p := range part.Panels {
				titles[j] = p.Title
			}
			part.Desc = fmt.Sprintf("%s (%s)", g.Desc, strings.Join(titles, ", "))
		}
		out = append(out, part)
	}
	return out
}

// layout places the grid's labels, and its panels one after the other, each as wide as its
// scale and its longest value text, or its title.
func (g chartGrid) layout() svgChart {
	labelW := 0.0
	for _, l := range g.Labels {
		labelW = max(labelW, textWidth(l, chartCharW))
	}
	c := svgChart{Desc: g.Desc, GridTop: chartTop - 6, TitleY: chartTitleY, BarH: chartBarH, RowH: chartRowH, LabelX: chartPad + labelW}
	c.AxisY = chartTop + float64(len(g.Labels))*chartRowH
	c.TickY = c.AxisY + chartAxisText
	c.UnitY = c.TickY + 22
	c.Height = c.UnitY + 10
	for i, l := range g.Labels {
		c.Labels = append(c.Labels, svgLabel{Text: l, Y: rowTextY(i)})
		if i%2 == 1 {
			c.Stripes = append(c.Stripes, chartTop+float64(i)*chartRowH-(chartRowH-chartBarH)/2)
		}
	}
	x := c.LabelX + 14
	for _, p := range g.Panels {
		sp, w := p.layout(x)
		c.Panels = append(c.Panels, sp)
		x += w + chartGap
	}
	c.Width = x - chartGap + chartPad
	return c
}

// rowTextY is the baseline of row i's texts.
func rowTextY(i int) float64 { return chartTop + float64(i)*chartRowH + chartBarH/2 + 5 }

// layout places a panel whose scale starts at x0, and returns its width.
func (p barPanel) layout(x0 float64) (svgPanel, float64) {
	sp := svgPanel{Title: p.Title, Axis: p.Axis, X0: x0, X1: x0 + chartBarW}
	textW := 0.0
	for i, r := range p.Rows {
		w := 0.0
		if r.Value > 0 && p.Max > 0 {
			w = max(2, chartBarW*min(r.Value, p.Max)/p.Max)
		}
		y := chartTop + float64(i)*chartRowH
		sp.Bars = append(sp.Bars, svgBar{Text: r.Text, Class: r.Class, Tip: r.Tip, Y: y, TextY: rowTextY(i), W: w, ValueX: x0 + w + 6})
		textW = max(textW, w+6+textWidth(r.Text, chartBoldW))
	}
	for _, t := range p.Ticks {
		sp.Ticks = append(sp.Ticks, svgTick{X: x0 + chartBarW*t/p.Max, Text: p.Tick(t)})
	}
	last := textWidth(p.Tick(p.Max), chartCharW) / 2 // the last tick's label sticks out
	width := max(chartBarW+last, textW, textWidth(p.Title, chartTitleW), textWidth(p.Axis, chartCharW))
	return sp, width
}

// num formats a coordinate or a measure with at most one decimal: "12", "12.5".
func num(x float64) string {
	return strconv.FormatFloat(math.Round(x*10)/10, 'f', -1, 64)
}

// niceMax rounds a scale's upper end up to 1, 2, 2.5 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	pow := math.Pow(10, math.Floor(math.Log10(v)))
	for _, f := range []float64{1, 2, 2.5, 5, 10} {
		if v <= f*pow {
			return f * pow
		}
	}
	return 10 * pow
}

// violationGrid is one workload's violation chart: a panel per fault, a bar per pairing whose
// length is the share of runs that broke its worst invariant, its text every broken invariant's
// share with the matrix's marks.
func violationGrid(bl block, cells map[result.Cell]result.CellResult) chartGrid {
	g := chartGrid{
		Desc:   bl.workload + ": share of runs that broke an invariant, per producer/consumer pairing under each fault",
		Labels: bl.rows,
	}
	for _, f := range bl.faults {
		p := barPanel{
			Title: f,
			Axis:  "share of runs",
			Max:   1,
			Ticks: []float64{0, 0.5, 1},
			Tick:  func(v float64) string { return fmt.Sprintf("%d%%", int(math.Round(v*100))) },
		}
		for _, row := range bl.rows {
			c := cellOfRow(bl.workload, row, f)
			r, ok := cells[c]
			if !ok {
				p.Rows = append(p.Rows, barRow{Text: "–", Class: sevNotRun.class(), Tip: cellTitle(c) + ": not run"})
				continue
			}
			text := rateSymbol(r)
			p.Rows = append(p.Rows, barRow{Value: worstShare(r), Text: text, Class: severityOf(r).class(), Tip: cellTitle(c) + ": " + text})
		}
		g.Panels = append(g.Panels, p)
	}
	return g
}

// cellOfRow names the cell of a matrix row ("producer/consumer") under a fault.
func cellOfRow(workload, row, fault string) result.Cell {
	p, c, _ := strings.Cut(row, "/")
	return result.Cell{Producer: p, Consumer: c, Workload: workload, Fault: fault}
}

// pairCost is the cost a cost chart shows for one pairing: its cell under no fault, or the mean
// over its faults when it was not run without one.
type pairCost struct {
	cost     result.Cost
	averaged bool
	ok       bool
}

// costOfPair reads a pairing's cost from its cells.
func costOfPair(bl block, row string, cells map[result.Cell]result.CellResult) pairCost {
	if r, ok := cells[cellOfRow(bl.workload, row, "none")]; ok && r.Cost != nil {
		return pairCost{cost: *r.Cost, ok: true}
	}
	var sum result.Cost
	n := 0
	for _, f := range bl.faults {
		r, ok := cells[cellOfRow(bl.workload, row, f)]
		if !ok || r.Cost == nil {
			continue
		}
		n++
		sum.DBStatements += r.Cost.DBStatements
		sum.BrokerOps += r.Cost.BrokerOps
		sum.LatencyP50 += r.Cost.LatencyP50
		sum.LatencyP99 += r.Cost.LatencyP99
		sum.Throughput += r.Cost.Throughput
	}
	if n == 0 {
		return pairCost{}
	}
	d := float64(n)
	return pairCost{averaged: true, ok: true, cost: result.Cost{
		DBStatements: sum.DBStatements / d, BrokerOps: sum.BrokerOps / d,
		LatencyP50: sum.LatencyP50 / d, LatencyP99: sum.LatencyP99 / d, Throughput: sum.Throughput / d,
	}}
}

// costMeasure is one bar chart of a cost: its title and how to read it from a Cost.
type costMeasure struct {
	title string
	unit  string
	value func(result.Cost) float64
}

// costMeasures lists the cost charts; throughput only when some pairing has it (real servers).
func costMeasures(latencyUnit string, withThroughput bool) []costMeasure {
	out := []costMeasure{
		{"DB statements", "per event", func(c result.Cost) float64 { return c.DBStatements }},
		{"broker operations", "per event", func(c result.Cost) float64 { return c.BrokerOps }},
		{"latency p50", latencyUnit, func(c result.Cost) float64 { return c.LatencyP50 }},
		{"latency p99", latencyUnit, func(c result.Cost) float64 { return c.LatencyP99 }},
	}
	if withThroughput {
		out = append(out, costMeasure{"throughput", "events per second", func(c result.Cost) float64 { return c.Throughput }})
	}
	return out
}

// costGrid is one workload's cost chart, a panel per measure and a bar per pairing; ok is false
// when no cell of the workload measured a cost. A pairing averaged over faults is marked "†".
func costGrid(bl block, cells map[result.Cell]result.CellResult, latencyUnit string) (g chartGrid, averaged, ok bool) {
	costs := make([]pairCost, len(bl.rows))
	throughput := false
	for i, row := range bl.rows {
		costs[i] = costOfPair(bl, row, cells)
		ok = ok || costs[i].ok
		averaged = averaged || costs[i].averaged
		throughput = throughput || costs[i].cost.Throughput > 0
		label := row
		if costs[i].averaged {
			label += " †"
		}
		g.Labels = append(g.Labels, label)
	}
	if !ok {
		return chartGrid{}, false, false
	}
	g.Desc = bl.workload + ": cost per committed event of each producer/consumer pairing"
	for _, m := range costMeasures(latencyUnit, throughput) {
		p := barPanel{Title: m.title, Axis: m.unit, Tick: num}
		top := 0.0
		for i, row := range bl.rows {
			if !costs[i].ok {
				p.Rows = append(p.Rows, barRow{Text: "–", Class: sevNotRun.class(), Tip: row + ": not measured"})
				continue
			}
			v := m.value(costs[i].cost)
			top = max(top, v)
			p.Rows = append(p.Rows, barRow{Value: v, Text: num(v), Class: "cost", Tip: fmt.Sprintf("%s: %s %s %s", row, m.title, num(v), m.unit)})
		}
		p.Max = niceMax(top)
		p.Ticks = []float64{0, p.Max / 2, p.Max}
		g.Panels = append(g.Panels, p)
	}
	return g, averaged, true
}
