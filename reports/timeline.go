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

// Markers put after the events that make a violation.
const (
	markLost    = "committed, never applied"
	markPhantom = "effect for a transaction that never committed"
)

// ReplayCommand starts every replay command the reports print. A team's own command built on
// package harness/cli (cli.Main) sets it to how that command is run, e.g. "go run ./cmd/harness",
// so that its reports replay with its strategies registered.
var ReplayCommand = "go run ./cmd/simulate"

// TimelineOptions adjusts how a counterexample renders.
type TimelineOptions struct {
	// ReplayFile names the file that holds the shrunk scenario as JSON. Set it when the shrunk
	// scenario differs from the one the seed generates: the timeline then gives a second replay
	// command, `<ReplayCommand> replay --scenario <ReplayFile>`.
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
	broken     string         // "no-duplicate-effect broken"
	seed       string         // "seed 17, shrunk to 1 command and 1 fault: ..."
	replay     []string       // the replay commands: by seed, then by scenario file
	rows       []string       // the numbered event lines
	lines      []TimelineLine // the same lines, unrendered: rows[i] renders lines[i]
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
		out[i] = pad(string(v.Invariant), width) + "  " + violationText(v)
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
	if cell.Broker == "" {
		cell.Broker = sc.Broker
	}
	t := timeline{cell: cell, violations: ce.Violations}

	names := invariants.Broken(ce.Violations)
	if len(names) == 0 && ce.Invariant != "" {
		names = []invariants.Name{ce.Invariant}
	}
	t.broken = nameList(names, "nothing") + " broken"

	shrunk := "shrunk to "
	if o.NotShrunk || ce.AsDrawn {
		shrunk = "as drawn, "
	}
	t.seed = fmt.Sprintf("seed %d, %s%s and %s", ce.Seed, shrunk, plural(len(sc.Commands), "command"), plural(len(sc.Faults), "fault"))
	switch {
	case ce.Schedule > 0 && ce.Bounds != nil:
		t.seed = fmt.Sprintf("schedule %d of an exhaustive exploration (interleaving seed %d), %s and %s", ce.Schedule, sc.Seed,
			plural(len(sc.Commands), "command"), plural(len(sc.Faults), "fault"))
	case ce.File != "":
		t.seed = fmt.Sprintf("scenario from %s (interleaving seed %d), %s and %s", ce.File, sc.Seed,
			plural(len(sc.Commands), "command"), plural(len(sc.Faults), "fault"))
	}
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
	backend = brokerFlag(sc.Broker) + backend // a seed or a schedule draws on the broker the flag names
	// Only commands that rebuild this very scenario: a schedule's index within its bounds, a file
	// of its own when nothing else is known to, or else the seed (which draws and shrinks again).
	switch {
	case ce.Schedule > 0 && ce.Bounds != nil:
		t.replay = []string{fmt.Sprintf("%s replay --producer %s --consumer %s --workload %s --fault %s --schedule %d%s%s",
			ReplayCommand, cell.Producer, cell.Consumer, cell.Workload, cell.Fault, ce.Schedule, BoundsFlags(*ce.Bounds), backend)}
	case ce.File != "":
		t.replay = []string{ReplayCommand + " replay --scenario " + ce.File + strings.TrimPrefix(backend, brokerFlag(sc.Broker))}
	default:
		t.replay = []string{fmt.Sprintf("%s replay --producer %s --consumer %s --workload %s --fault %s --seed %d%s%s",
			ReplayCommand, cell.Producer, cell.Consumer, cell.Workload, cell.Fault, ce.Seed, o.ReplayFlags, backend)}
	}
	if o.ReplayFile != "" && o.ReplayFile != ce.File {
		t.replay = append(t.replay, ReplayCommand+" replay --scenario "+o.ReplayFile+strings.TrimPrefix(backend, brokerFlag(sc.Broker)))
	}

	h := ce.History
	switch {
	case h == nil:
		t.notes = append(t.notes, "no history recorded")
		return t
	case !h.Quiesced:
		t.notes = append(t.notes, "the run did not reach quiescence; its final reads may be incomplete")
	}
	t.lines = timelineLines(h.Events, markEffects(h.Events, ce.Violations))
	t.rows = TimelineRows(t.lines)
	return t
}

// TimelineLine is one numbered line of a counterexample's timeline: an event, or a run of
// identical consecutive events of one process, with what the reader should see in it. Text,
// Markdown, HTML and the sequence diagram render from these lines, and so does the demo.
type TimelineLine struct {
	Num     int // 1, 2, ...: the line's number in every rendering
	Time    int64
	Proc    string
	Op      string // the event's operation, as the history records it
	Msg     string
	Outcome history.Outcome
	Detail  string // the event's detail
	Count   int    // the events the line stands for: identical consecutive events collapse
	Marks   []Mark

	event int // the index of the line's first event in the history
}

// MarkKind is what a mark says of a timeline line.
type MarkKind string

// Mark kinds. Fault, heal, crash and restart are the infrastructure's doing (upper case in every
// rendering); effect, duplicate, lost and phantom are the events a violation consists of (the
// marker after "<=="); guard is a defence at work, which the renderings leave to the detail and
// the demo highlights.
const (
	MarkFault     MarkKind = "fault"     // a scheduled fault fired
	MarkHeal      MarkKind = "heal"      // a cut or an outage ended
	MarkCrash     MarkKind = "crash"     // a process died
	MarkRestart   MarkKind = "restart"   // a process came back
	MarkEffect    MarkKind = "effect"    // the first effect of a message that took effect twice or more
	MarkDuplicate MarkKind = "duplicate" // the second or a later effect of that message
	MarkLost      MarkKind = "lost"      // the commit of a message whose effect never came
	MarkPhantom   MarkKind = "phantom"   // an effect of a transaction that never committed
	MarkGuard     MarkKind = "guard"     // a defence recognised a copy and turned it away
	// The chain workload's (chain_marks.go): a downstream message emitted for an effect that did
	// not commit, and each different message emitted for one upstream message.
	MarkGhost  MarkKind = "ghost"
	MarkOutput MarkKind = "output"
)

// Mark is one thing a timeline line shows.
type Mark struct {
	Kind  MarkKind
	Msg   string        // effect, duplicate, lost, phantom: the message the violation is about
	N     int           // effect, duplicate: which effect of Msg this is, from 1
	Guard history.Guard // guard: the defence
}

// Violation reports whether m is part of a violation: a mark the marker after "<==" names.
func (m Mark) Violation() bool {
	switch m.Kind {
	case MarkEffect, MarkDuplicate, MarkLost, MarkPhantom, MarkGhost, MarkOutput:
		return true
	}
	return false
}

// infra reports whether m is the infrastructure's doing: a fault, heal, crash or restart.
func (m Mark) infra() bool {
	switch m.Kind {
	case MarkFault, MarkHeal, MarkCrash, MarkRestart:
		return true
	}
	return false
}

// text is a violation mark as the marker words it on a line about lineMsg.
func (m Mark) text(lineMsg string) string {
	switch m.Kind {
	case MarkEffect:
		return fmt.Sprintf("effect #%d of %s", m.N, m.Msg)
	case MarkDuplicate:
		return fmt.Sprintf("effect #%d of %s (duplicate)", m.N, m.Msg)
	case MarkLost:
		if lineMsg != m.Msg {
			return m.Msg + " " + markLost
		}
		return markLost
	case MarkPhantom:
		return markPhantom
	case MarkGhost, MarkOutput:
		return chainMarkText(m)
	}
	return ""
}

// Has reports whether the line has a mark of kind k.
func (l TimelineLine) Has(k MarkKind) bool {
	return slices.ContainsFunc(l.Marks, func(m Mark) bool { return m.Kind == k })
}

// Guard is the defence at work on the line, if any.
func (l TimelineLine) Guard() history.Guard {
	for _, m := range l.Marks {
		if m.Kind == MarkGuard {
			return m.Guard
		}
	}
	return ""
}

// Infra reports whether the line is the infrastructure's doing: a fault, heal, crash or restart.
func (l TimelineLine) Infra() bool { return slices.ContainsFunc(l.Marks, Mark.infra) }

// Marker is what the line says after "<==": its violation marks, "; " between them; "" when it
// has none.
func (l TimelineLine) Marker() string {
	var parts []string
	for _, m := range l.Marks {
		if m.Violation() {
			parts = append(parts, m.text(l.Msg))
		}
	}
	return strings.Join(parts, "; ")
}

// op is the operation as the renderings show it: the infrastructure's in upper case.
func (l TimelineLine) op() string {
	if l.Infra() {
		return strings.ToUpper(l.Op)
	}
	return l.Op
}

// rest is the detail as the renderings show it: a fault as the schedule words it and what a heal
// ended as they are, any other detail in parentheses.
func (l TimelineLine) rest() string {
	switch {
	case l.Detail == "":
		return ""
	case l.Op == history.OpFault || l.Op == history.OpHeal:
		return l.Detail
	}
	return "(" + l.Detail + ")"
}

func (l TimelineLine) same(o TimelineLine) bool {
	return l.Proc == o.Proc && l.Op == o.Op && l.Msg == o.Msg && l.Outcome == o.Outcome && l.Detail == o.Detail && slices.Equal(l.Marks, o.Marks)
}

// timelineLines lays events out as numbered lines: each event's violation marks (by index in
// events), then its infrastructure or guard mark; runs of identical consecutive lines merge into
// one line that counts them.
func timelineLines(events []history.Event, marks map[int][]Mark) []TimelineLine {
	var out []TimelineLine
	for i, e := range events {
		l := TimelineLine{Time: e.Time, Proc: e.Proc, Op: e.Op, Msg: e.Msg, Outcome: e.Outcome, Detail: e.Detail, Count: 1, Marks: marks[i], event: i}
		if k, ok := infraMarks[e.Op]; ok {
			l.Marks = append(slices.Clip(l.Marks), Mark{Kind: k})
		}
		if e.Guard != "" {
			l.Marks = append(slices.Clip(l.Marks), Mark{Kind: MarkGuard, Guard: e.Guard})
		}
		if k := len(out) - 1; k >= 0 && out[k].same(l) {
			out[k].Count++
			continue
		}
		l.Num = len(out) + 1
		out = append(out, l)
	}
	return out
}

// infraMarks are the marks of the infrastructure's operations.
var infraMarks = map[string]MarkKind{
	history.OpFault: MarkFault, history.OpHeal: MarkHeal, history.OpCrash: MarkCrash, history.OpRestart: MarkRestart,
}

// TimelineLines lays a counterexample's history out as its timeline: the remarks on the history
// (Timeline's "note:" lines: none recorded, not quiesced) and the numbered lines.
func TimelineLines(ce *result.Counterexample) (notes []string, lines []TimelineLine) {
	if ce == nil {
		return nil, nil
	}
	t := buildTimeline(ce, result.Cell{}, TimelineOptions{})
	return t.notes, t.lines
}

// TimelineRows renders lines as Timeline prints them: numbered, columns aligned, then a line's
// detail, its repeat count and its marker after "<==".
func TimelineRows(lines []TimelineLine) []string {
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
		cells[i] = [ncols]string{strconv.Itoa(l.Num), "t=" + strconv.FormatInt(l.Time, 10), l.Proc, l.op(), l.Msg, string(l.Outcome)}
		for c := colTime; c < ncols; c++ {
			widths[c] = max(widths[c], len(cells[i][c]))
		}
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		var tail []string
		if r := l.rest(); r != "" {
			tail = append(tail, r)
		}
		if l.Count > 1 {
			tail = append(tail, fmt.Sprintf("(x%d)", l.Count))
		}
		if m := l.Marker(); m != "" {
			tail = append(tail, "<== "+m)
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

// markEffects finds the events that make each violation and the mark each gets, by index in
// events: for a duplicate, every committed apply of the message, numbered; for a lost effect, the
// producer's commit of the message (its produce call when no commit names it); for a phantom, the
// committed apply of the message.
func markEffects(events []history.Event, vs []invariants.Violation) map[int][]Mark {
	marks := make(map[int][]Mark)
	add := func(i int, m Mark) {
		if !slices.Contains(marks[i], m) {
			marks[i] = append(marks[i], m)
		}
	}
	for _, v := range vs {
		for _, id := range v.Msgs {
			switch v.Invariant {
			case invariants.NoDuplicateEffect:
				for n, i := range effects(events, id) {
					m := Mark{Kind: MarkEffect, Msg: id, N: n + 1}
					if n > 0 {
						m.Kind = MarkDuplicate
					}
					add(i, m)
				}
			case invariants.NoLostEffect:
				for _, i := range commitsOf(events, id) {
					add(i, Mark{Kind: MarkLost, Msg: id})
				}
			case invariants.NoPhantomEffect:
				for _, i := range effects(events, id) {
					add(i, Mark{Kind: MarkPhantom, Msg: id})
				}
			}
		}
		for _, m := range chainMarks(events, v) { // chain_marks.go
			add(m.i, m.mark)
		}
	}
	return marks
}

// effects returns the effects of id: the emails the gateway sent for it (an effect outside the
// database); else the successful applies of id whose transaction committed; when none is found
// committed, every successful apply of id.
func effects(events []history.Event, id string) []int {
	var sent []int
	for i, e := range events {
		if e.Op == history.OpSend && e.Msg == id && e.Guard != history.GuardKey {
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
			if e.Names(id) {
				return false
			}
		case history.OpCommit:
			if e.Names(id) {
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
		case e.Op == history.OpCommit && inserted[e.Proc] && e.Names(id) && (e.Outcome == history.OK || e.Outcome == history.Unknown):
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

// BoundsFlags are the flags that set an exhaustive exploration's bounds, each with a leading
// space: what a `replay --schedule N` needs to enumerate the same schedules.
func BoundsFlags(b result.Bounds) string {
	s := fmt.Sprintf(" --max-commands %d --max-faults %d", b.MaxCommands, b.MaxFaults)
	if b.MaxConsumers > 0 {
		s += fmt.Sprintf(" --max-consumers %d", b.MaxConsumers)
	}
	return s + fmt.Sprintf(" --interleavings %d", b.Interleavings)
}
