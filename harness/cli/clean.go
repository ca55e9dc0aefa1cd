package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/infra"
)

const cleanUsage = `simulate clean [--dry-run]

Removes what killed real-server runs left behind: their schemas, logical replication slots and
queues. A run is removed only when its schema carries the harness's marker and its liveness lock
(held by the run's process for as long as it lives) is free; live runs, in this process or any
other, are left alone. --dry-run lists what would be removed and removes nothing. Every real run
does the same at its start; queues also expire on the broker after 10 minutes unused.
`

// cmdClean reaps what killed runs left on the servers, and lists it.
func cmdClean(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("clean", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dryRun := fs.Bool("dry-run", false, "list what would be removed, remove nothing")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(stdout, cleanUsage)
			return nil
		}
		return usagef("clean: %v", err)
	}
	if fs.NArg() > 0 {
		return usagef("clean: unexpected argument %q (usage: simulate clean [--dry-run])", fs.Arg(0))
	}
	inf, err := infra.Discover(ctx)
	if err != nil {
		return err
	}
	rep, err := real.Clean(ctx, inf, *dryRun)
	writeClean(stdout, rep, *dryRun, err == nil)
	return err
}

// writeClean lists what Clean removed (or would remove), then, when it went through (complete),
// a summary line: after a failure what was listed is all that is known to be gone.
func writeClean(w io.Writer, rep real.CleanReport, dryRun, complete bool) {
	verb := "dropped"
	if dryRun {
		verb = "would drop"
	}
	counts := map[string]int{}
	for _, l := range rep.Dropped {
		fmt.Fprintf(w, "%s %s\n", verb, l)
		counts[l.Kind]++
	}
	for _, s := range rep.Skipped {
		fmt.Fprintf(w, "left alone: %s\n", s)
	}
	if !complete {
		return
	}
	var parts []string
	for _, k := range []string{"schema", "slot", "queue"} {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, plural(n, k)))
		}
	}
	what := "nothing left behind by killed runs"
	if len(parts) > 0 {
		what = fmt.Sprintf("%s %s", verb, strings.Join(parts, ", "))
	}
	fmt.Fprintf(w, "%s; %d live %s left alone\n", what, len(rep.Live), plural(len(rep.Live), "run"))
}

// plural is word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
