package cli

import (
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// helpRequest is a command's -h (or `simulate help CMD`): run prints the command's help on stdout
// and exits 0.
type helpRequest struct{ fs *flag.FlagSet }

func (h helpRequest) Error() string { return h.fs.Name() + ": help requested" }

// commandHelp is what `simulate CMD -h` says about a command besides its flags: its usage lines,
// what it does, and the flags it accepts but ignores.
var commandHelp = map[string]struct {
	usage []string
	about string
	hide  []string
}{
	"run": {
		usage: []string{"simulate run --producer P --consumer C --workload W --fault F [flags]"},
		about: "Runs one cell of the catalogue over --seeds seeds and compares what broke with the catalogue's " +
			"expectation. On the simulator, when the first seeds miss an expected break, up to 9 times as many " +
			"more seeds are searched for it, and the report says what they found. The first failure is shrunk " +
			"and shown as a timeline with the command that replays it. With --explore exhaustive the seeds give way " +
			"to every schedule within the bounds (--max-commands, --max-faults, --max-consumers, --interleavings): " +
			"each fault kind x target x point x occurrence x link and duration the cell's strategies can reach, one " +
			"run each; the report says how many were explored and whether that was all of them, and the first " +
			"schedule that broke an invariant is the counterexample, replayed with replay --schedule N. " +
			"Exit 1 if an invariant broke.",
	},
	"matrix": {
		usage: []string{"simulate matrix [flags]"},
		about: "Runs every cell of the catalogue that the name flags select (all of them without any), prints " +
			"the matrix and lists the cells that differ from the catalogue. With --explore exhaustive every cell runs " +
			"every schedule within the bounds (see run); a break the catalogue expects that needs more commands, " +
			"faults or consumers than the bounds allow is then missing, and the cell differs. Exit 1 if a cell differs.",
	},
	"replay": {
		usage: []string{
			"simulate replay --producer P --consumer C --workload W --fault F --seed S [flags]",
			"simulate replay --producer P --consumer C --workload W --fault F --schedule N [--max-commands K] [--max-faults F] [--max-consumers C] [--interleavings I]",
			"simulate replay --scenario FILE [flags]",
		},
		about: "Rebuilds the scenario of a seed, shrinks it as run does and prints its timeline; or runs the N-th " +
			"schedule of an exhaustive exploration within the same bounds as it is; or runs a " +
			"scenario JSON (a counterexample object holding one will do) as it is. --format is text or json. " +
			"Exit 1 if it breaks an invariant.",
		hide: []string{"seeds", "first-seed", "explore", "max-schedules"},
	},
	"demo": {
		usage: []string{"simulate demo NAME [--backend sim|real] [--no-pause]"},
		about: "Tells a guided story for a workshop: each act narrated, run, shown as a timeline and judged, " +
			"then a recap. On a terminal it waits for Enter between steps (q quits); otherwise it runs straight " +
			"through. Without NAME it lists the demos. Exit 3 if an act does not show what its story says.",
	},
	"list": {
		usage: []string{"simulate list"},
		about: "Lists the producer and consumer strategies with their fault points, the faults, workloads, " +
			"invariants, demos and backends.",
	},
}

// helpWidth is the width help text wraps to.
const helpWidth = 100

// writeHelp writes a command's help: its usage, what it does, the demos for demo, and its flags
// as fs declares them.
func writeHelp(w io.Writer, fs *flag.FlagSet) {
	name := fs.Name()
	h := commandHelp[name]
	for i, u := range h.usage {
		label := "usage: "
		if i > 0 {
			label = "       "
		}
		fmt.Fprintln(w, label+u)
	}
	if h.about != "" {
		fmt.Fprintln(w)
		for _, l := range wrapWords(h.about, helpWidth, "", "") {
			fmt.Fprintln(w, l)
		}
	}
	if name == "demo" {
		fmt.Fprintln(w, "\ndemos:")
		writeDemoList(w)
	}
	type row struct{ flag, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *flag.Flag) {
		if slices.Contains(h.hide, f.Name) {
			return
		}
		value, usage := flag.UnquoteUsage(f)
		r := row{flag: "--" + f.Name, usage: usage}
		if value != "" {
			r.flag += " " + value
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			r.usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		width = max(width, len(r.flag))
		rows = append(rows, r)
	})
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "\nflags:")
	indent := strings.Repeat(" ", 2+width+2)
	for _, r := range rows {
		for _, l := range wrapWords(r.usage, helpWidth, "  "+pad(r.flag, width)+"  ", indent) {
			fmt.Fprintln(w, l)
		}
	}
}

// writeDemoList writes the demos one a line: the name, then its one-line summary.
func writeDemoList(w io.Writer) {
	for _, s := range stories() {
		fmt.Fprintf(w, "  %-22s %s\n", s.name, s.title)
	}
}
