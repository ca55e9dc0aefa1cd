package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/deliveryharness/harness/scenarios"
)

// Markdown writes results as Markdown that pastes into an architecture decision record: a table
// per workload with the text matrix's symbols, the legend and summary, the cells that differ from
// the catalogue, and a section per counterexample with its numbered timeline in a fenced block.
// Headings start at level 2.
func Markdown(w io.Writer, results []scenarios.CellResult) error {
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
				row = append(row, bl.cell(r, f))
			}
			rows = append(rows, row)
		}
		writeTable(&b, rows)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "Legend: %s.\n", legendText())

	var differing []scenarios.CellResult
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
			if m := r.Missing(); len(m) > 0 {
				fmt.Fprintf(&b, " Not found in %d runs: %s (more seeds may find it).", r.Runs, nameList(m, ""))
			}
			if r.Errors > 0 {
				fmt.Fprintf(&b, " %s of %d did not settle.", plural(r.Errors, "run"), r.Runs)
			}
			if r.Reason != "" {
				fmt.Fprintf(&b, " Reason: %s", mdEscape(sentence(r.Reason)))
			}
			b.WriteByte('\n')
		}
	}

	var withCE []scenarios.CellResult
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

func writeMarkdownCounterexample(b *strings.Builder, r scenarios.CellResult) {
	t := buildTimeline(r.Counterexample, r.Cell(), TimelineOptions{})
	fmt.Fprintf(b, "\n### %s\n\n", mdEscape(cellTitle(t.cell)))
	fmt.Fprintf(b, "Observed %s; expected %s.", observed(r), nameList(r.Expected, "nothing broken"))
	if r.Reason != "" {
		fmt.Fprintf(b, " %s", mdEscape(sentence(r.Reason)))
	}
	b.WriteString("\n\n")
	fmt.Fprintf(b, "%s.\n\n", mdEscape(capitalize(t.seed)))
	fmt.Fprintf(b, "Replay: `%s`\n", t.replay[0])
	for _, n := range t.notes {
		fmt.Fprintf(b, "\nNote: %s.\n", n)
	}
	if len(t.rows) > 0 {
		fence := fenceFor(t.rows)
		fmt.Fprintf(b, "\n%stext\n", fence)
		for _, row := range t.rows {
			fmt.Fprintln(b, row)
		}
		fmt.Fprintln(b, fence)
	}
	if len(t.violations) > 0 {
		b.WriteString("\nViolations:\n\n")
		for _, v := range t.violations {
			fmt.Fprintf(b, "- `%s` %s\n", v.Invariant, mdEscape(violationText(v)))
		}
	}
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
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "*", `\*`, "_", `\_`, "`", "\\`").Replace(s)
}

// fenceFor returns a code fence longer than any run of backticks in lines.
func fenceFor(lines []string) string {
	longest := 0
	for _, l := range lines {
		run := 0
		for _, r := range l {
			if r == '`' {
				run++
				longest = max(longest, run)
			} else {
				run = 0
			}
		}
	}
	return strings.Repeat("`", max(3, longest+1))
}

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
