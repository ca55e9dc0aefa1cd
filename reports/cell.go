package reports

import (
	"fmt"
	"io"
	"strings"

	"github.com/deliveryharness/harness/scenarios/result"
)

// cellWidth is the width Cell wraps the catalogue's reason to.
const cellWidth = 100

// Cell writes the result of one cell, as `simulate run` prints it: the cell, its backend and runs,
// what the search past the first runs drew and found, for each invariant the runs that broke it, the expected and observed outcome with the
// catalogue's reason, its cost, the fault points its runs reached with the runs that reached each
// and those no run reached, then the counterexample's
// timeline if there is one. At most one
// TimelineOptions is used, for the timeline.
func Cell(w io.Writer, r result.CellResult, opts ...TimelineOptions) error {
	var b strings.Builder
	writeCell(&b, r)
	if ce := r.Counterexample; ce != nil {
		var o TimelineOptions
		if len(opts) > 0 {
			o = opts[0]
		}
		b.WriteString("\ncounterexample:\n")
		buildTimeline(ce, r.Cell(), o).writeText(&b)
	}
	return write(w, &b)
}

func writeCell(b *strings.Builder, r result.CellResult) {
	fmt.Fprintln(b, cellTitle(r.Cell()))
	var head []string
	if r.Backend != "" {
		head = append(head, "backend "+r.Backend)
	}
	head = append(head, plural(r.Runs, "run"))
	if r.Errors > 0 && r.Searched == 0 {
		head = append(head, fmt.Sprintf("%d did not settle (harness errors, not verdicts)", r.Errors))
	}
	line := strings.Join(head, ", ")
	if s := searchText(r); s != "" {
		line += "; " + s
		if r.Errors > 0 {
			line += "; " + unsettledText(r) + " (harness errors, not verdicts)"
		}
	}
	for _, l := range wrap(line, cellWidth, "", "  ") {
		fmt.Fprintln(b, l)
	}

	names := ordered(r.Violations)
	if len(names) > 0 {
		b.WriteByte('\n')
		nameW, countW := 0, len(fmt.Sprint(r.Runs))
		for _, n := range names {
			nameW = max(nameW, len(n))
			countW = max(countW, len(fmt.Sprint(r.Violations[n])))
		}
		for _, n := range names {
			fmt.Fprintf(b, "  %s  %s/%d runs\n", pad(string(n), nameW), padLeft(fmt.Sprint(r.Violations[n]), countW), r.Runs)
		}
	}

	b.WriteByte('\n')
	fmt.Fprintf(b, "expected  %s\n", nameList(r.Expected, "nothing broken"))
	verdict := "(as expected)"
	if !r.Matches {
		verdict = "<== differs from the catalogue"
	}
	fmt.Fprintf(b, "observed  %s  %s\n", nameList(broken(r), "nothing broken"), verdict)
	if r.Reason != "" {
		for _, l := range wrap(r.Reason, cellWidth, "reason    ", "          ") {
			fmt.Fprintln(b, l)
		}
	}
	if c := r.Cost; c != nil {
		for _, l := range wrap(costText(r.Backend, c), cellWidth, "cost      ", "          ") {
			fmt.Fprintln(b, l)
		}
	}
	prefix := "coverage  "
	for _, text := range []string{reachedText(r), unreachedText(r)} {
		if text == "" {
			continue
		}
		for _, l := range wrap(text, cellWidth, prefix, "          ") {
			fmt.Fprintln(b, l)
		}
		prefix = "          "
	}
}

// costText says what a cell's runs cost per committed event, in one sentence.
func costText(backend string, c *result.Cost) string {
	s := fmt.Sprintf("per event %.1f database statements and %.1f broker operations; business commit to effect p50 %g ms, p99 %g ms",
		c.DBStatements, c.BrokerOps, c.LatencyP50, c.LatencyP99)
	if backend == "sim" {
		s += " (simulated)"
	}
	if c.Throughput > 0 {
		s += fmt.Sprintf("; %.0f events/s through the worker processes", c.Throughput)
	}
	return s
}
