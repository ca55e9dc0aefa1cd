package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios/result"
)

// Markdown writes results as Markdown that pastes into an architecture decision record: a table
// per workload with each cell's broken invariants and the share of runs that broke each, the
// legend and summary, how fully the runs reached their fault points, the cells whose break only
// the search past the first runs found (marked
// "*", with the seed that found it), the cells with fault points no run reached, the cost of
// each strategy pairing, the cells that differ
// from the catalogue, and a section per counterexample with its timeline as a numbered list. Headings
// start at level 2.
func Markdown(w io.Writer, results []result.CellResult) error {
	var b strings.Builder
	b.WriteString("## Delivery matrix\n\n")
	if s := runsSummary(results); s != "" {
		fmt.Fprintf(&b, "%s: %s.\n\n", capitalize(s), summarize(results))
	} else {
		fmt.Fprintf(&b, "%s.\n\n", capitalize(summarize(results).String()))
	}

	for _, bl := range matrixBlocks(results) {
		fmt.Fprintf(&b, "### %s\n\n", bl.workload)
		header := append([]string{"producer / consumer"}, bl.faults...)
		rows := [][]string{header}
		for _, r := range bl.rows {
			row := []string{strings.Replace(r, "/", " / ", 1)}
			for _, f := range bl.faults {
				cell := "-"
				if res, ok := bl.results[[2]string{r, f}]; ok {
					cell = rateSymbol(res)
				}
				row = append(row, cell)
			}
			rows = append(rows, row)
		}
		writeTable(&b, rows)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "Legend: %s; a percentage is the share of runs that broke the invariant.\n", legendText())
	if c := coverageSummary(results); c != "" {
		fmt.Fprintf(&b, "\n%s. The runs that reached each point and the times they passed it, cell by cell, are in the JSON report (`coverage`: `runs_reached`, `passes`).\n", mdEscape(capitalize(c)))
	}
	var searched []result.CellResult
	for _, r := range results {
		if len(r.FoundBySearch) > 0 {
			searched = append(searched, r)
		}
	}
	if len(searched) > 0 {
		b.WriteString("\n\\* Found only by the search past the first runs:\n\n")
		for _, r := range searched {
			fmt.Fprintf(&b, "- **%s**: %s\n", mdEscape(cellTitle(r.Cell())), searchSentence(r))
		}
	}
	if unreached := withUnreached(results); len(unreached) > 0 {
		b.WriteString("\nFault points no run reached (a crash there was never drawn):\n\n")
		for _, r := range unreached {
			fmt.Fprintf(&b, "- **%s**: %s\n", mdEscape(cellTitle(r.Cell())), mdEscape(unreachedText(r)))
		}
	}
	writeMarkdownCost(&b, results)

	var differing []result.CellResult
	for _, r := range results {
		if !r.Matches {
			differing = append(differing, r)
		}
	}
	if len(differing) > 0 {
		b.WriteString("\n### Cells that differ from the catalogue\n\n")
		for _, r := range differing {
			fmt.Fprintf(&b, "- **%s**: expected %s; observed %s.", mdEscape(cellTitle(r.Cell())), nameList(r.Expected, "nothing broken"), observed(r))
			if u := r.Unexpected(); len(u) > 0 {
				fmt.Fprintf(&b, " Unexpected: %s, which the catalogue says cannot break here.", nameList(u, ""))
			}
			if m := r.Missing(); len(m) > 0 && r.Bounds == nil {
				fmt.Fprintf(&b, " Not found in %d runs: %s (more seeds may find it).", r.Runs, nameList(m, ""))
			}
			if s := searchText(r); s != "" {
				fmt.Fprintf(&b, " %s.", capitalize(s))
			}
			if r.Errors > 0 {
				fmt.Fprintf(&b, " %s.", capitalize(unsettledText(r)))
			}
			if r.Reason != "" {
				fmt.Fprintf(&b, " Reason: %s", mdEscape(sentence(r.Reason)))
			}
			b.WriteByte('\n')
		}
	}

	var withCE []result.CellResult
	for _, r := range results {
		if r.Counterexample != nil {
			withCE = append(withCE, r)
		}
	}
	if len(withCE) > 0 {
		b.WriteString("\n## Counterexamples\n")
		for _, r := range withCE {
			writeMarkdownCounterexample(&b, r)
		}
	}
	return write(w, &b)
}

func writeMarkdownCounterexample(b *strings.Builder, r result.CellResult) {
	t := buildTimeline(r.Counterexample, r.Cell(), TimelineOptions{})
	fmt.Fprintf(b, "\n### %s\n\n", mdEscape(cellTitle(t.cell)))
	fmt.Fprintf(b, "Observed %s; expected %s.", observed(r), nameList(r.Expected, "nothing broken"))
	if s := searchText(r); s != "" {
		fmt.Fprintf(b, " %s.", capitalize(s))
	}
	if r.Reason != "" {
		fmt.Fprintf(b, " %s", mdEscape(sentence(r.Reason)))
	}
	b.WriteString("\n\n")
	fmt.Fprintf(b, "%s.\n\n", mdEscape(capitalize(t.seed)))
	fmt.Fprintf(b, "Replay: `%s`\n", t.replay[0])
	for _, n := range t.notes {
		fmt.Fprintf(b, "\nNote: %s.\n", n)
	}
	if len(t.lines) > 0 {
		b.WriteByte('\n')
		for _, l := range t.lines {
			fmt.Fprintf(b, "%d. %s\n", l.Num, markdownLine(l))
		}
	}
	if len(t.violations) > 0 {
		b.WriteString("\nViolations:\n\n")
		for _, v := range t.violations {
			fmt.Fprintf(b, "- `%s` %s\n", v.Invariant, mdEscape(violationText(v)))
		}
	}
}

// writeMarkdownCost writes the cost table: per workload and strategy pairing, from its cell
// without a fault (else the first cell measured), what each committed event cost.
func writeMarkdownCost(b *strings.Builder, results []result.CellResult) {
	rows := costRows(results)
	if len(rows) == 0 {
		return
	}
	throughput := false
	for _, r := range rows {
		throughput = throughput || r.Cost.Throughput > 0
	}
	b.WriteString("\n### Cost per event\n\n")
	header := []string{"workload", "producer / consumer", "fault", "DB statements", "broker operations", "latency p50", "latency p99"}
	if throughput {
		header = append(header, "events/s")
	}
	table := [][]string{header}
	for _, r := range rows {
		c := r.Cost
		row := []string{r.Workload, r.Producer + " / " + r.Consumer, r.Fault,
			fmt.Sprintf("%.1f", c.DBStatements), fmt.Sprintf("%.1f", c.BrokerOps),
			fmt.Sprintf("%g ms", c.LatencyP50), fmt.Sprintf("%g ms", c.LatencyP99)}
		if throughput {
			row = append(row, fmt.Sprintf("%.0f", c.Throughput))
		}
		table = append(table, row)
	}
	writeTable(b, table)
	b.WriteString("\nPer committed event, over every run of the cell, retries included. Latency runs from the business COMMIT to the effect's commit (the email sent, for emails)")
	if results[0].Backend == "sim" {
		b.WriteString(", in simulated milliseconds")
	} else {
		b.WriteString("; on real servers the workers wait for the harness at every operation, so compare pairings with each other")
	}
	b.WriteString(".\n")
}

// costRows picks, per workload and pairing, the result whose cost the cost table shows: the
// cell without a fault, else the first with a cost. Order: as the results come.
func costRows(results []result.CellResult) []result.CellResult {
	idx := map[string]int{}
	var out []result.CellResult
	for _, r := range results {
		if r.Cost == nil {
			continue
		}
		k := r.Workload + "/" + pair(r)
		i, seen := idx[k]
		switch {
		case !seen:
			idx[k] = len(out)
			out = append(out, r)
		case r.Fault == "none" && out[i].Fault != "none":
			out[i] = r
		}
	}
	return out
}

// markdownLine renders one timeline line as a list item: the time, the process in bold, the
// operation and message in code, the outcome, the detail; a fault, crash or heal in bold, the
// effects a violation consists of in bold after an arrow.
func markdownLine(l TimelineLine) string {
	var b strings.Builder
	fmt.Fprintf(&b, "t=%d **%s** ", l.Time, mdEscape(l.Proc))
	op := "`" + l.op()
	if l.Msg != "" {
		op += " " + l.Msg
	}
	op += "`"
	if l.Infra() {
		op = "**" + op + "**"
	}
	b.WriteString(op)
	if l.Outcome != history.Info {
		b.WriteString(" → " + string(l.Outcome))
	}
	if r := l.rest(); r != "" {
		b.WriteString(" " + mdEscape(r))
	}
	if l.Count > 1 {
		fmt.Fprintf(&b, " (×%d)", l.Count)
	}
	if m := l.Marker(); m != "" {
		b.WriteString(" ⟸ **" + mdEscape(m) + "**")
	}
	return b.String()
}

// writeTable writes a Markdown table, the first row its header, columns padded so the source
// reads as a table too.
func writeTable(b *strings.Builder, rows [][]string) {
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, c := range row {
			widths[i] = max(widths[i], len(mdEscape(c)), 3)
		}
	}
	line := func(cells []string) {
		b.WriteString("|")
		for i, c := range cells {
			b.WriteString(" " + pad(c, widths[i]) + " |")
		}
		b.WriteByte('\n')
	}
	for i, row := range rows {
		esc := make([]string, len(row))
		for j, c := range row {
			esc[j] = mdEscape(c)
		}
		line(esc)
		if i == 0 {
			dashes := make([]string, len(widths))
			for j, n := range widths {
				dashes[j] = strings.Repeat("-", n)
			}
			line(dashes)
		}
	}
}

// mdEscape keeps text from breaking a table or starting markup it does not mean.
func mdEscape(s string) string { return mdEscaper.Replace(s) }

// mdEscaper is built once: a Replacer is safe for concurrent use, and building one per call
// cost more than the replacing.
var mdEscaper = strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`")

// sentence capitalizes s and ends it with a full stop.
func sentence(s string) string {
	s = capitalize(strings.TrimSpace(s))
	if s != "" && !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
