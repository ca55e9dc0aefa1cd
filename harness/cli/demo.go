package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/reports"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
)

// console is what a demo pauses on: a person at a terminal, or nobody.
type console interface {
	// Interactive reports whether a person can answer: stdin and stdout are both terminals.
	Interactive() bool
	// ReadLine waits for the next line typed, without its line end; io.EOF once input has ended.
	ReadLine(ctx context.Context) (string, error)
}

// newConsole returns the console of a demo writing to stdout: the process's stdin, interactive
// when stdin and stdout are terminals. Tests replace it with a fake terminal.
var newConsole = func(stdout io.Writer) console {
	f, ok := stdout.(*os.File)
	return &stdConsole{in: os.Stdin, interactive: ok && isTerminal(f) && isTerminal(os.Stdin)}
}

// stdConsole reads lines from in on a goroutine, so that a wait for Enter ends when the context
// does (an interrupt) as well as when a line comes or the input ends.
type stdConsole struct {
	in          io.Reader
	interactive bool
	once        sync.Once
	lines       chan readLine
}

type readLine struct {
	line string
	err  error
}

func (c *stdConsole) Interactive() bool { return c.interactive }

func (c *stdConsole) ReadLine(ctx context.Context) (string, error) {
	c.once.Do(func() {
		c.lines = make(chan readLine)
		go func() {
			r := bufio.NewReader(c.in)
			for {
				s, err := r.ReadString('\n')
				if s != "" {
					c.lines <- readLine{line: strings.TrimRight(s, "\r\n")}
				}
				if err != nil {
					// The input has ended (or cannot be read, which ends it as well): every
					// later read says so, and the demo goes on without pausing.
					for {
						c.lines <- readLine{err: io.EOF}
					}
				}
			}
		}()
	})
	select {
	case <-ctx.Done():
		return "", ctx.Err()
	case l := <-c.lines:
		return l.line, l.err
	}
}

// errQuit: the person at the terminal asked to stop.
var errQuit = errors.New("quit")

// pauser waits for Enter between the steps of a demo, when it may.
type pauser struct {
	con console
	w   io.Writer
	on  bool // false: straight through (not a terminal, --no-pause, or input ended)
}

// pause prompts and waits for a line: Enter continues, q quits (errQuit). When the input ends,
// the demo goes on straight through.
func (p *pauser) pause(ctx context.Context, next string) error {
	if !p.on {
		return nil
	}
	fmt.Fprintf(p.w, "\n[Enter] %s, q to quit ", next)
	line, err := p.con.ReadLine(ctx)
	switch {
	case errors.Is(err, io.EOF):
		fmt.Fprintln(p.w)
		p.on = false
		return nil
	case ctx.Err() != nil:
		fmt.Fprintln(p.w)
		return errors.New("demo interrupted")
	case err != nil:
		return err
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "q", "quit", "exit":
		return errQuit
	}
	return nil
}

// demoOutput writes a demo's text: narration wrapped to the width of a projected terminal,
// timelines with the fault and the effects marked, in colour on a terminal.
type demoOutput struct {
	w     io.Writer
	color bool
}

const (
	demoWidth = 96
	ansiBold  = "\033[1m"
	ansiRed   = "\033[1;31m"
	ansiGreen = "\033[1;32m"
	ansiYel   = "\033[1;33m"
	ansiReset = "\033[0m"
)

func (o demoOutput) paint(code, s string) string {
	if !o.color || code == "" || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (o demoOutput) line(s string)                 { fmt.Fprintln(o.w, s) }
func (o demoOutput) linef(format string, a ...any) { fmt.Fprintf(o.w, format+"\n", a...) }

// para writes text wrapped, each line indented, the first line starting with label.
func (o demoOutput) para(label, text string) {
	for _, l := range wrapWords(text, demoWidth, "  "+label, "  "+strings.Repeat(" ", len(label))) {
		o.line(l)
	}
}

// wrapWords wraps text to width, the first line indented by first, the others by rest.
func wrapWords(text string, width int, first, rest string) []string {
	var out []string
	line, indent := first, first
	for _, word := range strings.Fields(text) {
		if len(line) > len(indent) && len(line)+1+len(word) > width {
			out = append(out, line)
			line, indent = rest, rest
		}
		if len(line) > len(indent) {
			line += " "
		}
		line += word
	}
	if len(line) > len(indent) {
		out = append(out, line)
	}
	return out
}

// demoGuards are the defences whose work a demo points at: an inbox that has seen the message,
// a repeat the gateway dropped, an older version skipped.
var demoGuards = []history.Guard{history.GuardInbox, history.GuardKey, history.GuardVersion}

// timeline writes the numbered event lines of a run, with a ">" in the margin (and colour on a
// terminal) on what the room should look at, as the lines' marks say: the scheduled fault and the
// crash, every effect the verdict counts (and, where the effect sets a value, every write), and a
// defence at work (demoGuards).
func (o demoOutput) timeline(sc history.Scenario, out scenarios.Outcome) {
	ce := &result.Counterexample{Seed: sc.Seed, Scenario: sc, Violations: out.Violations, History: out.History}
	notes, lines := reports.TimelineLines(ce)
	sets := workload.EffectOf(sc.Workload) == workload.Set
	for _, n := range notes {
		o.line("  note: " + n)
	}
	for i, row := range reports.TimelineRows(lines) {
		l := lines[i]
		code := ""
		switch {
		case l.Has(reports.MarkFault), l.Has(reports.MarkCrash):
			code = ansiRed
		case l.Marker() != "", sets && l.Op == history.OpApply:
			code = ansiYel
		case slices.Contains(demoGuards, l.Guard()):
			code = ansiGreen
		}
		if code != "" && strings.HasPrefix(row, " ") {
			row = ">" + row[1:]
		}
		o.line("  " + o.paint(code, row))
	}
}

// verdictIndent aligns the lines under a verdict with its text.
var verdictIndent = strings.Repeat(" ", len("verdict: "))

// outcome of one act.
type actOutcome struct {
	broken  []invariants.Name
	summary string // the act's result in a few words: "order-1 paid twice"
}

// summarise says in a few words what the final state shows: where the effect sets a value
// (prices) the first violation's words (or the final values), else each message's effects
// counted, in the workload's words.
func summarise(h *history.History, vs []invariants.Violation) string {
	if h == nil {
		return ""
	}
	var parts []string
	w, _ := workload.Lookup(h.Scenario.Workload)
	switch w.Effect {
	case workload.Set:
		if len(vs) > 0 {
			d, _, _ := strings.Cut(vs[0].Detail, " (")
			return d
		}
		for _, v := range h.Final.Values {
			parts = append(parts, fmt.Sprintf("%s ends at price %d", v.Key, v.Value))
		}
	default:
		verb := w.Words.Applied
		count := map[string]int{}
		committed := map[string]bool{}
		key := map[string]string{}
		var ids []string
		for _, m := range h.Final.Committed {
			if !committed[m.ID] {
				ids = append(ids, m.ID)
				committed[m.ID], key[m.ID] = true, m.Key
			}
		}
		for _, e := range h.Final.Effects {
			if _, ok := key[e.Msg]; !ok {
				ids = append(ids, e.Msg)
				key[e.Msg] = e.Key
			}
			count[e.Msg]++
		}
		for _, id := range ids {
			s := id + " " + verb + " " + timesWord(count[id])
			if count[id] == 0 {
				s = id + " never " + verb
			}
			if w.Words.NamesKey && key[id] != "" && key[id] != id {
				s += " to " + key[id]
			}
			if !committed[id] {
				s += ", but never committed"
			}
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// timesWord renders a count for a room: "once", "twice", "3 times".
func timesWord(n int) string {
	switch n {
	case 1:
		return "once"
	case 2:
		return "twice"
	}
	return fmt.Sprintf("%d times", n)
}

// cmdDemo is `simulate demo NAME [--backend sim|real] [--no-pause]`; without NAME it lists the
// demos; with -h, the demos and the flags.
func cmdDemo(ctx context.Context, args []string, stdout io.Writer, con console) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	backend := fs.String("backend", "sim", "run on `sim|real`: the simulator, or PostgreSQL and RabbitMQ")
	noPause := fs.Bool("no-pause", false, "run straight through, without waiting for Enter")
	name := ""
	// The name may come before or after the flags.
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return helpRequest{fs}
			}
			return usagef("demo: %v", err)
		}
		if fs.NArg() == 0 {
			break
		}
		if name != "" {
			return usagef("demo: unexpected argument %q", fs.Arg(0))
		}
		name, rest = fs.Arg(0), fs.Args()[1:]
	}
	if name == "" {
		fmt.Fprintln(stdout, "demos (simulate demo NAME [--backend sim|real] [--no-pause]):")
		writeDemoList(stdout)
		return nil
	}
	i := slices.Index(demoNames(), name)
	if i < 0 {
		return usagef("unknown demo %q (demos: %s)", name, strings.Join(demoNames(), ", "))
	}
	s := stories()[i]
	b, err := backendFor(ctx, *backend)
	if err != nil {
		return err
	}
	interactive := con.Interactive()
	o := demoOutput{w: stdout, color: interactive && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"}
	p := &pauser{con: con, w: stdout, on: interactive && !*noPause}
	err = tell(ctx, s, b, o, p)
	if errors.Is(err, errQuit) {
		o.line("\nstopped.")
		return nil
	}
	return err
}

// backendWords names a backend for a room.
func backendWords(name string) string {
	if name == "real" {
		return "on PostgreSQL and RabbitMQ, each component a separate process, a crash a SIGKILL"
	}
	return "on the simulator: deterministic, the same run every time"
}

// tell runs a story act by act. It returns errQuit when the person at the terminal quits, and an
// error when an act does not show what the story says, or the backend fails.
func tell(ctx context.Context, s story, b harness.Backend, o demoOutput, p *pauser) error {
	o.line(o.paint(ansiBold, fmt.Sprintf("%s: %s", s.name, s.title)))
	o.line("  " + backendWords(b.Name()))
	o.line("")
	o.para("", s.intro)
	o.line("")
	for i, a := range s.acts {
		o.linef("  act %d  %s", i+1, a.title)
	}
	results := make([]actOutcome, len(s.acts))
	scens := make([]history.Scenario, len(s.acts))
	for i, a := range s.acts {
		if err := p.pause(ctx, fmt.Sprintf("for act %d", i+1)); err != nil {
			return err
		}
		sc, err := a.resolve()
		if err != nil {
			return fmt.Errorf("demo %s, act %d: %w", s.name, i+1, err)
		}
		scens[i] = sc
		o.line("")
		o.line(o.paint(ansiBold, fmt.Sprintf("== act %d of %d: %s ==", i+1, len(s.acts), a.title)))
		o.line("")
		o.para("", a.tell)
		o.line("")
		o.para("watch for: ", a.watch)
		o.line("")
		o.para("setup: ", setupWords(sc))
		if err := p.pause(ctx, "to run it"); err != nil {
			return err
		}
		if b.Name() == "real" {
			o.line("\n  running on PostgreSQL and RabbitMQ...")
		}
		out, err := scenarios.RunScenario(ctx, b, sc)
		if err != nil {
			return fmt.Errorf("demo %s, act %d (%s): %w", s.name, i+1, a.title, err)
		}
		o.line("")
		o.line("  what happened (> marks the fault, the effects and the defences at work):")
		o.line("")
		o.timeline(sc, out)
		if err := p.pause(ctx, "for the verdict"); err != nil {
			return err
		}
		r := actOutcome{broken: invariants.Broken(out.Violations), summary: summarise(out.History, out.Violations)}
		results[i] = r
		o.line("")
		if len(r.broken) == 0 {
			checked := make([]invariants.Name, 0, 4)
			for _, inv := range invariants.For(sc.Workload) {
				checked = append(checked, inv.Name())
			}
			o.line("  " + o.paint(ansiGreen, "verdict: nothing broken: "+r.summary))
			o.para(verdictIndent, invariants.Join(checked, ", ")+" hold")
		} else {
			o.line("  " + o.paint(ansiRed, "verdict: "+invariants.Join(r.broken, ", ")+" broken"))
			for _, v := range out.Violations {
				o.para(verdictIndent, v.Detail)
			}
		}
		if !slices.Equal(r.broken, a.breaks) {
			return fmt.Errorf("demo %s, act %d (%s): the story says %s, the run broke %s: the harness does not behave as it should",
				s.name, i+1, a.title, brokenWords(a.breaks), brokenWords(r.broken))
		}
		o.line("")
		o.para("lesson: ", a.lesson)
	}
	if err := p.pause(ctx, "for the recap"); err != nil {
		return err
	}
	o.line("")
	o.line(o.paint(ansiBold, "recap"))
	recap(o, scens, results)
	o.line("")
	o.para("", s.moral)
	return nil
}

// setupWords describes an act's scenario: strategies, commands, topology and faults.
func setupWords(sc history.Scenario) string {
	w, _ := workload.Lookup(sc.Workload)
	noun := w.Words.Command
	n := len(sc.Commands)
	cmds := fmt.Sprintf("%d %s", n, noun)
	if n != 1 {
		cmds += "s"
	}
	ids := make([]string, n)
	for i, m := range sc.Commands {
		ids[i] = m.ID
	}
	words := fmt.Sprintf("%s producer, %s consumer; %s (%s)", sc.Producer, sc.Consumer, cmds, strings.Join(ids, ", "))
	if sc.Consumers > 1 {
		words += fmt.Sprintf("; %d consumers", sc.Consumers)
	}
	if sc.Prefetch > 1 {
		words += fmt.Sprintf("; prefetch %d", sc.Prefetch)
	}
	for _, f := range sc.Faults {
		words += "; fault: " + f.String()
	}
	return words
}

// faultWords is a fault in a few words, for the recap: its kind and where it strikes.
func faultWords(sc history.Scenario) string {
	var out []string
	for _, f := range sc.Faults {
		w := f.Kind
		switch {
		case f.Point != "":
			w += " at " + f.Point
		case f.Target != "":
			w += " on " + f.Target
		}
		out = append(out, w)
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "; ")
}

// brokenWords is a list of invariants, or "nothing".
func brokenWords(names []invariants.Name) string {
	if len(names) == 0 {
		return "nothing"
	}
	return invariants.Join(names, ", ")
}

// recap writes one line per act: the strategy pairing, the fault, what broke and what the final
// state showed.
func recap(o demoOutput, scens []history.Scenario, results []actOutcome) {
	rows := [][5]string{{"act", "producer/consumer", "fault", "broke", "at the end"}}
	for i, sc := range scens {
		rows = append(rows, [5]string{fmt.Sprint(i + 1), sc.Producer + "/" + sc.Consumer, faultWords(sc),
			brokenWords(results[i].broken), results[i].summary})
	}
	var widths [5]int
	for _, r := range rows {
		for c, cell := range r {
			widths[c] = max(widths[c], len(cell))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		b.WriteString(" ")
		for c, cell := range r {
			b.WriteString(" " + pad(cell, widths[c]) + " ")
		}
		o.line(strings.TrimRight(b.String(), " "))
	}
}

// pad right-pads s with spaces to width n.
func pad(s string, n int) string {
	if len(s) >= n {
		return s
	}
	return s + strings.Repeat(" ", n-len(s))
}
