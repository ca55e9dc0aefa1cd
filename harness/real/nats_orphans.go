package real

// What a killed nats run leaves: its stream (and the durable consumer in it). The run's schema is
// its record as for the queue: Clean deletes the stream of every dead run it reaps, when the
// stream carries the run's marker (package nats refuses any other).

import (
	"context"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/redact"
)

// cleanWithStreams is pg.Clean with each dead run's NATS stream deleted along with its queue.
// When no NATS server answers, the streams are not looked for, and the report says so.
func cleanWithStreams(ctx context.Context, inf Infra, dryRun bool, queue pg.QueueReaper) (CleanReport, error) {
	if inf.NATSURL == "" || infra.RequireNATS(ctx, inf) != nil {
		rep, err := pg.Clean(ctx, inf.PostgresURL, dryRun, queue)
		if inf.NATSURL != "" {
			rep.Skipped = append(rep.Skipped, "NATS streams of dead runs: no NATS server answers on "+redact.Host(inf.NATSURL))
		}
		return rep, err
	}
	var streams []Leftover
	reaper := func(ctx context.Context, runID string, dryRun bool) (string, error) {
		name := ""
		if queue != nil {
			var err error
			if name, err = queue(ctx, runID, dryRun); err != nil {
				return "", err
			}
		}
		s := nats.StreamOf(inf.NATSURL, runID)
		defer s.Close()
		exists, err := s.Exists(ctx)
		if err == nil && exists && !dryRun {
			err = s.Delete(ctx)
		}
		if err != nil {
			return name, err
		}
		if exists {
			streams = append(streams, Leftover{Kind: "stream", Name: s.Name, Run: runID})
		}
		return name, nil
	}
	rep, err := pg.Clean(ctx, inf.PostgresURL, dryRun, reaper)
	rep.Dropped = append(rep.Dropped, streams...)
	return rep, err
}
