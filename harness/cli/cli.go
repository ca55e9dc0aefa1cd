// Package cli is the simulate command's logic, importable so that a team's own command serves
// the same run, matrix, replay, list and demo with its own strategies registered:
//
//	func main() {
//		// Register first: the real backend's workers are this binary re-executed.
//		if err := strategies.RegisterConsumer("my-consumer", NewMyConsumer); err != nil {
//			log.Fatal(err)
//		}
//		if real.IsWorker() {
//			real.WorkerMain()
//		}
//		os.Exit(cli.Main(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
//	}
//
//	simulate                      the whole catalogue on the simulator: a matrix, and a report folder
//	simulate run --producer P --consumer C --workload W --fault F [--seeds N]
//	simulate matrix [--seeds N] [--format text|json|markdown|html] [--out DIR]
//	simulate replay --producer P --consumer C --workload W --fault F --seed S
//	simulate replay --scenario FILE
//	simulate demo NAME [--backend sim|real] [--no-pause]
//	simulate list
//	simulate clean [--dry-run]
//	simulate help [CMD]
//
// Exit status: 0 fine; 1 when `run` or `replay` saw an invariant break, or when `matrix` found a
// cell that differs from the catalogue; 2 for bad usage, with a one-line reason; 3 when the
// harness itself failed.
//
// It composes scenarios, reports and the two backends; only commands import it. It must not link
// testing or pgregory.net/rapid: the test helpers live in scenarios/scenariotest and
// harness/real/realtest.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Main runs the command line args (without the program's name) and returns the exit status.
// A progress line is drawn when stderr is a terminal.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, ok := stderr.(*os.File)
	return run(ctx, args, stdout, stderr, ok && isTerminal(f))
}

// Exit codes, in one place.
const (
	exitOK       = 0
	exitFindings = 1
	exitUsage    = 2
	exitFailure  = 3 // the harness itself failed
)

// isTerminal reports whether f is a character device (a terminal), for the progress line.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// usageError is bad input: one line, exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// errFindings: the command ran and found what its exit status reports (status 1).
var errFindings = errors.New("findings")

// run is the whole program; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) int {
	cmd, rest := "", args
	if len(args) > 0 {
		cmd, rest = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "":
		err = cmdDefault(ctx, stdout, stderr, tty)
	case "run":
		err = cmdRun(ctx, rest, stdout)
	case "matrix":
		err = cmdMatrix(ctx, rest, stdout, stderr, tty)
	case "replay":
		err = cmdReplay(ctx, rest, stdout)
	case "demo":
		err = cmdDemo(ctx, rest, stdout, newConsole(stdout))
	case "list":
		err = cmdList(rest, stdout)
	case "clean":
		err = cmdClean(ctx, rest, stdout)
	case "merge":
		err = cmdMerge(ctx, rest, stdout, stderr)
	case "help", "-h", "--help", "-help":
		switch {
		case len(rest) == 0 || len(rest) == 1 && rest[0] == "help":
			fmt.Fprint(stdout, usageText)
			return exitOK
		case len(rest) > 1 || rest[0] == "" || strings.HasPrefix(rest[0], "-"):
			err = usagef("help takes one command name, got %q", strings.Join(rest, " "))
		default:
			// `simulate help CMD` is `simulate CMD -h`; an unknown CMD is the unknown command below.
			return run(ctx, []string{rest[0], "-h"}, stdout, stderr, tty)
		}
	default:
		err = usagef("unknown command %q (commands: run, matrix, replay, demo, list, clean, merge, help)", cmd)
	}
	var ue usageError
	var help helpRequest
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &help):
		writeHelp(stdout, help.fs)
		return exitOK
	case errors.Is(err, errFindings):
		return exitFindings
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "simulate: %s\n", ue.msg)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "simulate: %v\n", err)
		return exitFailure
	}
}

const usageText = `simulate: delivery strategies under faults, checked for exactly-once effects

  simulate                       the whole catalogue on the simulator; a matrix and a report folder
  simulate run     --producer P --consumer C --workload W --fault F [--seeds N] [--first-seed S]
                   [--commands N] [--max-consumers N] [--no-shrink] [--backend sim|real]
                   [--format text|json|markdown|html]
  simulate matrix  [--seeds N] [--producer P] [--consumer C] [--workload W] [--fault F]
                   [--backend sim|real] [--format text|json|markdown|html] [--out DIR]
                   [--shard K/N]   every N-th cell from the K-th, for one machine of N
  simulate replay  --producer P --consumer C --workload W --fault F --seed S [--no-shrink]
  simulate replay  --scenario FILE      (a scenario or counterexample JSON)
  simulate demo    NAME [--backend sim|real] [--no-pause]     (without NAME: the demos)
                   a guided story for a workshop: each act narrated, run, shown as a timeline and
                   judged; on a terminal it waits for Enter between steps (q quits)
  simulate list    strategies, faults and their points, workloads, invariants, demos
  simulate help    [CMD]   this text, or one command's usage and flags (the demos, for demo);
                   also simulate CMD -h
  simulate clean   [--dry-run]   remove what killed real-server runs left (schemas, slots, queues)
  simulate merge   --out DIR SHARD_DIR...   one report from the --out folders of a sharded matrix

--seeds defaults to 100 on the simulator and 5 on real servers (about a second a run).

exit status: 0 ok; 1 an invariant broke (run, replay) or a cell differs from the catalogue
(matrix); 2 bad usage; 3 the harness itself failed (also: a demo act that did not show what its
story says)
`
