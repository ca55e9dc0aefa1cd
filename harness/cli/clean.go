package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/rabbitnode"
)

const cleanUsage = `simulate clean [--dry-run]

Removes what killed real-server runs left behind: their schemas, logical replication slots and
publications, queues and NATS streams. A run is removed only when its schema carries the harness's marker and its liveness lock
(held by the run's process for as long as it lives) is free; live runs, in this process or any
other, are left alone. --dry-run lists what would be removed and removes nothing. Every real run
does the same at its start; queues also expire on the broker after 10 minutes unused.

It also stops the dedicated RabbitMQ nodes (harness-rabbitnode-* under the temporary directory)
whose owning process is gone, and removes their directories, even when the servers cannot be
reached. The shared RabbitMQ is never touched.
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
	nodes, nodesErr := sweepNodes(ctx, *dryRun)
	writeNodes(stdout, nodes, *dryRun)
	inf, err := infra.Discover(ctx)
	if err != nil {
		return err
	}
	rep, err := real.Clean(ctx, inf, *dryRun)
	if err == nil {
		err = nodesErr
	}
	writeClean(stdout, rep, len(nodes), *dryRun, err == nil)
	return err
}

// sweepNodes stops the dedicated RabbitMQ nodes of dead processes and removes their directories
// (with dryRun: lists them, touches nothing), and returns their names.
func sweepNodes(ctx context.Context, dryRun bool) ([]string, error) {
	if !dryRun {
		return rabbitnode.Sweep(ctx)
	}
	orphans, err := rabbitnode.Orphans()
	var names []string
	for _, o := range orphans {
		names = append(names, o.Node)
	}
	return names, err
}

// writeNodes lists the nodes sweepNodes stopped (or would stop).
func writeNodes(w io.Writer, nodes []string, dryRun bool) {
	verb := "stopped"
	if dryRun {
		verb = "would stop"
	}
	for _, n := range nodes {
		fmt.Fprintf(w, "%s node %s\n", verb, n)
	}
}

// writeClean lists what Clean removed (or would remove), then, when it went through (complete),
// a summary line that also counts the nodes stopped: after a failure what was listed is all that
// is known to be gone.
func writeClean(w io.Writer, rep real.CleanReport, nodes int, dryRun, complete bool) {
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
	for _, k := range []string{"schema", "slot", "publication", "queue", "stream"} {
		if n := counts[k]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, plural(n, k)))
		}
	}
	var whats []string
	if len(parts) > 0 {
		whats = append(whats, fmt.Sprintf("%s %s", verb, strings.Join(parts, ", ")))
	}
	if nodes > 0 {
		stop := "stopped"
		if dryRun {
			stop = "would stop"
		}
		whats = append(whats, fmt.Sprintf("%s %d RabbitMQ %s", stop, nodes, plural(nodes, "node")))
	}
	what := "nothing left behind by killed runs"
	if len(whats) > 0 {
		what = strings.Join(whats, ", ")
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
