// Command simulate runs delivery strategies under faults and checks exactly-once effects; its
// logic is package harness/cli, which a team's own command can serve with its strategies
// registered.
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
// Nothing imports it. The binary must not link testing or pgregory.net/rapid.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"

	"github.com/deliveryharness/harness/harness/cli"
	"github.com/deliveryharness/harness/harness/real"
)

func main() {
	if real.IsWorker() {
		real.WorkerMain() // this process is a component of a real-backend run
	}
	if os.Getenv("GOGC") == "" {
		// A matrix is a short batch of small, short-lived simulations: collecting less often
		// cuts its time by about a quarter for a few hundred MB more, and the setting is the
		// user's to override.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := cli.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
