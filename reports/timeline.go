package reports

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// Invariant names whose effects a timeline marks.
const (
	invDuplicate = "no-duplicate-effect"
	invLost      = "no-lost-effect"
	invPhantom   = "no-phantom-effect"
)

// Markers put after the events that make a violation.
const (
	markLost    = "committed, never applied"
	markPhantom = "effect for a transaction that never committed"
)

// TimelineOptions adjusts how a counterexample renders.
type TimelineOptions struct {
	// ReplayFile names the file that holds the shrunk scenario as JSON. Set it when the shrunk
	// scenario differs from the one the seed generates: the timeline then gives a second replay
	// command, `go run ./cmd/simulate replay --scenario <ReplayFile>`.
	ReplayFile string
	// ReplayFlags are extra flags the run used that the seed's scenario depends on, such as
	// " --commands 2" or " --no-shrink"; they are appended to the replay-by-seed command.
	ReplayFlags string
	// NotShrunk says the counterexample is the scenario as drawn (--no-shrink).
	NotShrunk bool
}

// Timeline writes a counterexample as a numbered timeline a person can follow: a title (the cell
// and the invariants broken), the seed and the shrunk scenario's size and schedule, the command
// that replays it, one aligned line per event of its history, and the violations. cell names the
// cell the counterexample belongs to; its empty fields are taken from the shrunk scenario. At most
// one TimelineOptions is used.
func Timeline(w io.Writer, ce *result.Counterexample, cell result.Cell, opts ...TimelineOptions) error {
	if ce == nil {
		return errors.New("reports: no counterexample to render")
	}
	var o TimelineOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	var b strings.Builder
	buildTimeline(ce, cell, o).writeText(&b)
	return write(w, &b)
}

// timeline is a counterexample laid out: the parts each format arranges its own way.
type timeline struct {
	cell       result.Cell
	broken     string   // "no-duplicate-effect broken"
	seed       string   // "seed 17, shrunk to 1 command and 1 fault: ..."
	replay     []string // the replay commands: by seed, then by scenario file
	rows       []string // the numbered event lines
	lines      []line   // the same lines, unrendered: rows[i] renders lines[i]
	violations []invariants.Violation
	notes      []string // remarks on the history: missing, not quiesced
}

func (t timeline) title() string { return cellTitle(t.cell) + ": " + t.broken }

// writeText renders the timeline as Timeline writes it.
func (t timeline) writeText(b *strings.Builder) {
	fmt.Fprintln(b, t.title())
	fmt.Fprintln(b, t.seed)
	for i, cmd := range t.replay {
		label := "replay: "
		if i > 0 {
			label = "    or: "
		}
		fmt.Fprintln(b, label+cmd)
	}
	for _, n := range t.notes {
		fmt.Fprintln(b, "note: "+n)
	}
	if len(t.rows) > 0 {
		b.WriteByte('\n')
		for _, r := range t.rows {
			fmt.Fprintln(b, r)
		}
	}
	if lines := violationLines(t.violations); len(lines) > 0 {
		b.WriteString("\nviolations:\n")
		for _, l := range lines {
			fmt.Fprintln(b, "  "+l)
		}
	}
}

// violationLines renders violations one a line, names aligned: "no-lost-effect  order-2: ...".
func violationLines(vs []invariants.Violation) []string {
	width := 0
	for _, v := range vs {
		width = max(width, len(v.Invariant))
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = pad(v.Invariant, width) + "  " + violationText(v)
	}
	return out
}

// violationText is "key: detail", or the message ids when the violation has no key.
func violationText(v invariants.Violation) string {
	subject := v.Key
	if subject == "" {
		subject = strings.Join(v.Msgs, ", ")
	}
	if subject == "" {
		return v.Detail
	}
	return subject + ": " + v.Detail
}

func buildTimeline(ce *result.Counterexample, cell result.Cell, o TimelineOptions) timeline {
	sc := ce.Scenario
	if cell.Producer == "" {
		cell.Producer = sc.Producer
	}
	if cell.Consumer == "" {
		cell.Consumer = sc.Consumer
	}
	if cell.Workload == "" {
		cell.Workload = sc.Workload
	}
	if cell.Fault == "" {
		cell.Fault = sc.Fault
	}
	t := timeline{cell: cell, violations: ce.Violations}

	names := invariants.Broken(ce.Violations)
	if len(names) == 0 && ce.Invariant != "" {
		names = []string{ce.Invariant}
	}
	t.broken = nameList(names, "nothing") + " broken"

	shrunk := "shrunk to "
	if o.NotShrunk || ce.AsDrawn {
		shrunk = "as drawn, "
	}
	t.seed = fmt.Sprintf("seed %d, %s%s and %s", ce.Seed, shrunk, plural(len(sc.Commands), "command"), plural(len(sc.Faults), "fault"))
	if len(sc.Faults) > 0 {
		faults := make([]string, len(sc.Faults))
		for i, f := range sc.Faults {
			faults[i] = f.String()
		}
		t.seed += ": " + strings.Join(faults, "; ")
	}

	backend := ""
	if ce.History != nil && ce.History.Backend != "" && ce.History.Backend != "sim" {
		backend = " --backend " + ce.History.Backend
	}
	t.replay = []string{fmt.Sprintf("go run ./cmd/simulate replay --producer %s --consumer %s --workload %s --fault %s --seed %d%s%s",
		cell.Producer, cell.Consumer, cell.Workload, cell.Fault, ce.Seed, o.ReplayFlags, backend)}
	if o.ReplayFile != "" {
		t.replay = append(t.replay, "go run ./cmd/simulate replay --scenario "+o.ReplayFile+backend)
	}

	h := ce.History
	switch {
	case h == nil:
		t.notes = append(t.notes, "no history recorded")
		return t
	case !h.Quiesced:
		t.notes = append(t.notes, "the run did not reach quiescence; its final reads may be incomplete")
	}
	t.lines = collapse(eventLines(h.Events, markEffects(h.Events, ce.Violations)))
	t.rows = renderLines(t.lines)
	return t
}

// line is one line of a timeline before numbering: an event, or a run of identical events.
type line struct {
	time    int64
	proc    string
	op      string
	msg     string
	outcome string
	rest    string // the detail, as shown
	marks   []string
	n       int // events this line stands for
}

func (l line) same(o line) bool {
	return l.proc == o.proc && l.op == o.op && l.msg == o.msg && l.outcome == o.outcome && l.rest == o.rest && slices.Equal(l.marks, o.marks)
}

// eventLines turns events into lines: faults, crashes, restarts and heals in upper case.
func eventLines(events []history.Event, marks map[int][]string) []line {
	out := make([]line, len(events))
	for i, e := range events {
		l := line{time: e.Time, proc: e.Proc, op: e.Op, msg: e.Msg, outcome: string(e.Outcome), marks: marks[i], n: 1}
		switch e.Op {
		case history.OpFault, history.OpCrash, history.OpRestart, history.OpHeal:
			l.op = strings.ToUpper(e.Op)
		}
		switch {
		case e.Detail == "":
		case e.Op == history.OpFault || e.Op == history.OpHeal:
			l.rest = e.Detail // the fault as the schedule shows it, or what healed
		default:
			l.rest = "(" + e.Detail + ")"
		}
		out[i] = l
	}
	return out
}

// collapse merges runs of identical consecutive lines into one line that counts them.
func collapse(lines []line) []line {
	var out []line
	for _, l := range lines {
		if k := len(out) - 1; k >= 0 && out[k].same(l) {
			out[k].n += l.n
			continue
		}
		out = append(out, l)
	}
	return out
}

// renderLines numbers lines and aligns their columns. A line's detail, repeat count and markers
// follow its last non-empty column.
func renderLines(lines []line) []string {
	const (
		colNum = iota
		colTime
		colProc
		colOp
		colMsg
		colOutcome
		ncols
	)
	cells := make([][ncols]string, len(lines))
	var widths [ncols]int
	widths[colNum] = max(4, len(strconv.Itoa(len(lines))))
	for i, l := range lines {
		cells[i] = [ncols]string{strconv.Itoa(i + 1), "t=" + strconv.FormatInt(l.time, 10), l.proc, l.op, l.msg, l.outcome}
		for c := colTime; c < ncols; c++ {
			widths[c] = max(widths[c], len(cells[i][c]))
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		var tail []string
		if l.rest != "" {
			tail = append(tail, l.rest)
		}
		if l.n > 1 {
			tail = append(tail, fmt.Sprintf("(x%d)", l.n))
		}
		if len(l.marks) > 0 {
			tail = append(tail, "<== "+strings.Join(l.marks, "; "))
		}
		last := colOp
		for c := colOp; c < ncols; c++ {
			if cells[i][c] != "" {
				last = c
			}
		}
		var b strings.Builder
		b.WriteString(padLeft(cells[i][colNum], widths[colNum]))
		for c := colTime; c <= last; c++ {
			b.WriteString("  ")
			b.WriteString(pad(cells[i][c], widths[c]))
		}
		if len(tail) > 0 {
			b.WriteString("  ")
			b.WriteString(strings.Join(tail, "  "))
		}
		out[i] = strings.TrimRight(b.String(), " ")
	}
	return out
}

// markEffects finds the events that make each violation and the marker each gets, by index in
// events: for a duplicate, every committed apply of the message, numbered; for a lost effect, the
// producer's commit of the message (its produce call when no commit names it); for a phantom, the
// committed apply of the message.
func markEffects(events []history.Event, vs []invariants.Violation) map[int][]string {
	marks := make(map[int][]string)
	add := func(i int, m string) {
		if !slices.Contains(marks[i], m) {
			marks[i] = append(marks[i], m)
		}
	}
	for _, v := range vs {
		for _, id := range v.Msgs {
			switch v.Invariant {
			case invDuplicate:
				for n, i := range effects(events, id) {
					m := fmt.Sprintf("effect #%d of %s", n+1, id)
					if n > 0 {
						m += " (duplicate)"
					}
					add(i, m)
				}
			case invLost:
				for _, i := range commitsOf(events, id) {
					m := markLost
					if events[i].Msg != id {
						m = id + " " + markLost
					}
					add(i, m)
				}
			case invPhantom:
				for _, i := range effects(events, id) {
					add(i, markPhantom)
				}
			}
		}
	}
	return marks
}

// names reports whether e is about message id: its Msg, or one of the ids its Detail lists.
func names(e history.Event, id string) bool {
	return e.Msg == id || slices.Contains(strings.Fields(e.Detail), id)
}

// effects returns the effects of id: the emails the gateway sent for it (an effect outside the
// database); else the successful applies of id whose transaction committed; when none is found
// committed, every successful apply of id.
func effects(events []history.Event, id string) []int {
	var sent []int
	for i, e := range events {
		if e.Op == history.OpSend && e.Msg == id && !strings.Contains(e.Detail, "dropped") {
			sent = append(sent, i)
		}
	}
	if len(sent) > 0 {
		return sent
	}
	var applied, committed []int
	for i, e := range events {
		if e.Op != history.OpApply || e.Msg != id || e.Outcome != history.OK {
			continue
		}
		applied = append(applied, i)
		if committedAfter(events, i, id) {
			committed = append(committed, i)
		}
	}
	if len(committed) > 0 {
		return committed
	}
	return applied
}

// committedAfter reports whether the transaction around events[i] committed: the next commit of
// the same process that names id answered ok or unknown, with no rollback of id or crash of the
// process before it.
func committedAfter(events []history.Event, i int, id string) bool {
	proc := events[i].Proc
	for _, e := range events[i+1:] {
		if e.Proc != proc {
			continue
		}
		switch e.Op {
		case history.OpCrash:
			return false
		case history.OpRollback:
			if names(e, id) {
				return false
			}
		case history.OpCommit:
			if names(e, id) {
				return e.Outcome == history.OK || e.Outcome == history.Unknown
			}
		}
	}
	return false
}

// commitsOf returns the commits (ok or unknown) of the business row of id: commits naming id by a
// process that inserted id before. When there are none, the produce calls of id that did not fail.
func commitsOf(events []history.Event, id string) []int {
	var out, produced []int
	inserted := make(map[string]bool)
	for i, e := range events {
		switch {
		case e.Op == history.OpInsert && e.Msg == id:
			inserted[e.Proc] = true
		case e.Op == history.OpCommit && inserted[e.Proc] && names(e, id) && (e.Outcome == history.OK || e.Outcome == history.Unknown):
			out = append(out, i)
		case e.Op == history.OpProduce && e.Msg == id && e.Outcome != history.Fail:
			produced = append(produced, i)
		}
	}
	if len(out) > 0 {
		return out
	}
	return produced
}
