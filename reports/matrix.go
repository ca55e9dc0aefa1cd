package reports

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/scenarios/result"
)

// MatrixOptions adjusts the text matrix.
type MatrixOptions struct {
	// Width is the widest line the matrix may use, in columns; 0 means DefaultWidth. Fault names
	// in the header are abbreviated (with a legend) when the full names do not fit, and the
	// columns wrap into several tables when even the abbreviations do not.
	Width int
}

// DefaultWidth is the matrix width when MatrixOptions.Width is 0.
const DefaultWidth = 100

// shortFault abbreviates a fault name to at most 8 columns: the kind's declared short name, or
// the name cut short for a kind outside the catalogue.
func shortFault(name string) string {
	if k, err := fault.Lookup(name); err == nil {
		return k.Short
	}
	if len(name) > 8 {
		return name[:8]
	}
	return name
}

// Matrix writes a text matrix of results: one table per workload, a row per producer/consumer
// pair, a column per fault kind (in the order the kinds first appear in results), each cell the
// symbols of the invariants that broke ("ok" when none did), "!" on a cell whose outcome differs
// from the catalogue's expectation, "*" on one whose break only the search past the first runs
// found. A legend and a summary follow, with a line on how fully the runs reached their fault
// points, then every cell marked "*" with the seed the search found it at, then every cell with a
// declared fault point no run reached, one line each, then every
// differing cell with its expected and observed outcome, what the search drew
// and the catalogue's reason.
func Matrix(w io.Writer, results []result.CellResult, opts MatrixOptions) error {
	width := opts.Width
	if width <= 0 {
		width = DefaultWidth
	}
	var b strings.Builder
	b.WriteString("delivery matrix")
	if s := runsSummary(results); s != "" {
		b.WriteString(": " + s)
	}
	b.WriteByte('\n')

	blocks := matrixBlocks(results)
	short := false
	for _, bl := range blocks {
		if bl.width(false) > width {
			short = true
		}
	}
	for _, bl := range blocks {
		b.WriteByte('\n')
		bl.writeText(&b, short, width)
	}

	b.WriteByte('\n')
	for _, l := range wrapItems(legendItems(), width, "legend: ", "        ") {
		fmt.Fprintln(&b, l)
	}
	if short {
		var parts []string
		for _, f := range columnFaults(results) {
			if s := shortFault(f); s != f {
				parts = append(parts, s+" = "+f)
			}
		}
		if len(parts) > 0 {
			for _, l := range wrapItems(parts, width, "faults: ", "        ") {
				fmt.Fprintln(&b, l)
			}
		}
	}
	for _, l := range wrapItems(summarize(results).items(), width, "", "") {
		fmt.Fprintln(&b, l)
	}
	if c := coverageSummary(results); c != "" {
		for _, l := range wrap(c, width, "", "  ") {
			fmt.Fprintln(&b, l)
		}
	}

	var searched []result.CellResult
	for _, r := range results {
		if len(r.FoundBySearch) > 0 {
			searched = append(searched, r)
		}
	}
	if len(searched) > 0 {
		fmt.Fprintf(&b, "\n* found only by the search past the first runs (%d):\n", len(searched))
		for _, r := range searched {
			fmt.Fprintf(&b, "  %s\n", r.Cell())
			for _, l := range wrap(searchSentence(r), width, "    ", "    ") {
				fmt.Fprintln(&b, l)
			}
		}
	}

	if unreached := withUnreached(results); len(unreached) > 0 {
		fmt.Fprintf(&b, "\ncells with fault points no run reached (%d):\n", len(unreached))
		for _, r := range unreached {
			for _, l := range wrap(r.Cell().String()+": "+unreachedText(r), width, "  ", "    ") {
				fmt.Fprintln(&b, l)
			}
		}
	}

	var differing []result.CellResult
	for _, r := range results {
		if !r.Matches {
			differing = append(differing, r)
		}
	}
	if len(differing) > 0 {
		fmt.Fprintf(&b, "\ncells that differ from the catalogue (%d):\n", len(differing))
		for _, r := range differing {
			fmt.Fprintf(&b, "  %s\n", r.Cell())
			fmt.Fprintf(&b, "    expected  %s\n", nameList(r.Expected, "nothing broken"))
			fmt.Fprintf(&b, "    observed  %s\n", observed(r))
			var notes []string
			if u := r.Unexpected(); len(u) > 0 {
				notes = append(notes, "    extra     ", nameList(u, "")+" broke where the expectation (reason) says it holds; replay the counterexample")
			}
			if m := r.Missing(); len(m) > 0 && r.Bounds == nil {
				notes = append(notes, "    missing   ", fmt.Sprintf("%s not found in %d runs: a rarer mechanism; more --seeds may find it", nameList(m, ""), r.Runs))
			}
			if s := exploreText(r); s != "" {
				notes = append(notes, "    bounds    ", s)
			} else if s := searchText(r); s != "" {
				notes = append(notes, "    search    ", s)
			}
			for i := 0; i < len(notes); i += 2 {
				for _, l := range wrap(notes[i+1], width, notes[i], "              ") {
					fmt.Fprintln(&b, l)
				}
			}
			if r.Errors > 0 {
				fmt.Fprintf(&b, "    errors    %s\n", unsettledText(r))
			}
			if r.Reason != "" {
				for _, l := range wrap(r.Reason, width, "    reason    ", "              ") {
					fmt.Fprintln(&b, l)
				}
			}
		}
	}
	return write(w, &b)
}

// columnFaults are the faults of results in catalogue order; names the catalogue does not know
// come after, in order of first appearance.
func columnFaults(results []result.CellResult) []string {
	faults := distinct(results, func(r result.CellResult) string { return r.Fault })
	rank := func(name string) int {
		if i := slices.Index(fault.Names(), name); i >= 0 {
			return i
		}
		return len(fault.Names())
	}
	slices.SortStableFunc(faults, func(a, b string) int { return rank(a) - rank(b) })
	return faults
}

// block is one workload's table: symbols by row (producer/consumer) and column (fault).
type block struct {
	workload string
	rows     []string
	faults   []string
	cells    map[[2]string]string // {row, fault} -> symbol
	results  map[[2]string]result.CellResult
}

// matrixBlocks groups results by workload, in order of first appearance; a block's columns are
// the faults of the whole result set that it has, in catalogue order (names the catalogue does
// not know come after, in order of first appearance).
func matrixBlocks(results []result.CellResult) []block {
	faults := columnFaults(results)
	var out []block
	for _, wl := range distinct(results, func(r result.CellResult) string { return r.Workload }) {
		var mine []result.CellResult
		for _, r := range results {
			if r.Workload == wl {
				mine = append(mine, r)
			}
		}
		bl := block{workload: wl, rows: distinct(mine, pair), cells: make(map[[2]string]string), results: make(map[[2]string]result.CellResult)}
		has := make(map[string]bool)
		for _, r := range mine {
			has[r.Fault] = true
			bl.cells[[2]string{pair(r), r.Fault}] = symbol(r)
			bl.results[[2]string{pair(r), r.Fault}] = r
		}
		for _, f := range faults {
			if has[f] {
				bl.faults = append(bl.faults, f)
			}
		}
		out = append(out, bl)
	}
	return out
}

const rowHeader = "producer/consumer"

func (bl block) cell(row, fault string) string {
	if s, ok := bl.cells[[2]string{row, fault}]; ok {
		return s
	}
	return "-"
}

func (bl block) header(fault string, short bool) string {
	if short {
		return shortFault(fault)
	}
	return fault
}

func (bl block) labelWidth() int {
	n := len(rowHeader)
	for _, r := range bl.rows {
		n = max(n, len(r))
	}
	return n
}

func (bl block) colWidth(fault string, short bool) int {
	n := len(bl.header(fault, short))
	for _, r := range bl.rows {
		n = max(n, len(bl.cell(r, fault)))
	}
	return n
}

// width is the length of the block's widest line on one table.
func (bl block) width(short bool) int {
	n := 2 + bl.labelWidth()
	for _, f := range bl.faults {
		n += 2 + bl.colWidth(f, short)
	}
	return n
}

// writeText writes the block as one or more tables no wider than width (a table has at least one
// column whatever its width).
func (bl block) writeText(b *strings.Builder, short bool, width int) {
	fmt.Fprintf(b, "workload %s\n", bl.workload)
	label := bl.labelWidth()
	var chunks [][]string
	used := 2 + label
	for _, f := range bl.faults {
		cw := 2 + bl.colWidth(f, short)
		if len(chunks) == 0 || used+cw > width && len(chunks[len(chunks)-1]) > 0 {
			chunks = append(chunks, nil)
			used = 2 + label
		}
		chunks[len(chunks)-1] = append(chunks[len(chunks)-1], f)
		used += cw
	}
	for i, chunk := range chunks {
		if i > 0 {
			b.WriteByte('\n')
		}
		line := func(first string, cell func(string) string) {
			var l strings.Builder
			l.WriteString("  " + pad(first, label))
			for _, f := range chunk {
				l.WriteString("  " + pad(cell(f), bl.colWidth(f, short)))
			}
			fmt.Fprintln(b, strings.TrimRight(l.String(), " "))
		}
		line(rowHeader, func(f string) string { return bl.header(f, short) })
		for _, r := range bl.rows {
			line(r, func(f string) string { return bl.cell(r, f) })
		}
	}
}

// withUnreached are the results with a declared fault point no run reached, in order.
func withUnreached(results []result.CellResult) []result.CellResult {
	var out []result.CellResult
	for _, r := range results {
		if unreachedText(r) != "" {
			out = append(out, r)
		}
	}
	return out
}
