package real

// What a killed run leaves behind, and how the next run tells it from a live one.
//
// Every run holds a liveness marker for as long as it goes on: a session advisory lock on its run
// id, taken by a connection of the parent process before the run creates anything and released
// after it has removed everything. The lock dies with that connection, so with the process: a
// SIGKILLed parent's lock is free again as soon as the kernel has closed its socket. A run's
// schema (harness_<run id>, with the harness's marker comment) is the record of what else it
// made: the replication slot of the same name and the queue harness.<run id>.events. Clean
// reaps a run only when both hold: the marker is the harness's, and the lock is free (Clean takes
// it, so that the run cannot be live while it is reaped). A live run, in this process or any
// other, holds its lock and is never touched.
//
// A nats run's stream (HARNESS_<run id>, its description the run's marker) goes with its queue.
// Queues are also declared with x-expires (ten minutes, package amqp): the broker deletes one by
// itself once it has had no consumer for that long, even if nothing ever calls Clean.

import (
	"context"

	"github.com/deliveryharness/harness/harness/real/pg"
)

// CleanReport is what Clean found (package pg fills it in, the queues included).
type CleanReport = pg.CleanReport

// Leftover is one thing a run left on the servers.
type Leftover = pg.Leftover

// Clean finds the runs whose process is gone (harness marker on their schema, liveness lock
// free) and removes what they left: the queue (when inf names a broker), the replication slot
// (its holder terminated first: the run is dead, so is every session of it) and the schema. A
// run's sessions still open on PostgreSQL (workers that outlived their parent for a moment) are
// terminated before its schema is dropped. With dryRun it removes nothing and reports what it
// would remove. Live runs, in this process or another, are never touched.
func Clean(ctx context.Context, inf Infra, dryRun bool) (CleanReport, error) {
	var queue pg.QueueReaper
	if inf.AMQPURL != "" {
		queue = reapRunQueues(inf.AMQPURL) // the run's queue and a chain run's second (chain.go)
	}
	return cleanWithStreams(ctx, inf, dryRun, queue) // and the NATS streams (nats_orphans.go)
}
