package sim

import (
	"context"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// offsetRelay is a tiny offset relay against the ports: read the rows after its durable cursor,
// publish them, advance the cursor in the same transaction, until it has passed want rows.
func offsetRelay(want int64) func(ctx context.Context, env Ports) {
	return func(ctx context.Context, env Ports) {
		for range 100 {
			tx, err := env.Store.Begin(ctx)
			if err != nil {
				return
			}
			cur, err := tx.RelayCursor(ctx, "offset")
			if err != nil || cur >= want {
				_ = tx.Rollback(ctx)
				return
			}
			rows, err := tx.ReadOutboxAfter(ctx, cur, 2)
			if err != nil {
				_ = tx.Rollback(ctx)
				return
			}
			for _, r := range rows {
				if c, err := env.Publisher.Publish(ctx, r.Msg); err == nil {
					_ = c.Wait(ctx)
				}
				cur = r.ID
			}
			env.Faults.Point(ctx, "relay.after-publish")
			if err := tx.SetRelayCursor(ctx, "offset", cur); err != nil {
				_ = tx.Rollback(ctx)
				return
			}
			_ = tx.Commit(ctx)
			env.Faults.Point(ctx, "relay.after-commit")
			env.Clock.Sleep(ctx, 5)
		}
	}
}

// TestOffsetRelayCursorSurvivesCrash: the simulated database keeps a relay's committed cursor
// across the relay's crash, so a crash after the cursor's commit republishes nothing, and one
// between the publish and the commit republishes that batch. Now is the simulated time.
func TestOffsetRelayCursorSurvivesCrash(t *testing.T) {
	msgs := []history.Message{{ID: "o-1", Key: "o-1"}, {ID: "o-2", Key: "o-2"}, {ID: "o-3", Key: "o-3"}}
	producer := func(ctx context.Context, env Ports) {
		if now := env.Clock.Now(); now.Location() != time.UTC || now.UnixMilli() < 0 || now.UnixMilli() > 1000 {
			t.Errorf("Now early in the run = %v, want within a second of the Unix epoch, in UTC", now)
		}
		tx, err := env.Store.Begin(ctx)
		if err != nil {
			t.Errorf("begin: %v", err)
			return
		}
		for _, m := range msgs {
			_ = tx.AppendOutbox(ctx, m)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Errorf("commit: %v", err)
		}
	}
	cases := []struct {
		name      string
		point     string
		published int
	}{
		{"no-crash", "", 3},
		{"crash-after-publish", "relay.after-publish", 5}, // the first batch of two again
		{"crash-after-commit", "relay.after-commit", 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := history.Scenario{Workload: "orders", Seed: 1, Prefetch: 1}
			if c.point != "" {
				sc.Faults = []history.Fault{{Kind: fault.CrashRelay, Target: BodyName(2), Point: c.point, Nth: 1}}
			}
			h, err := RunBodies(sc, DefaultConfig(), producer, offsetRelay(3))
			if err != nil {
				t.Fatal(err)
			}
			published, crashed := 0, false
			for _, e := range h.Events {
				crashed = crashed || e.Op == history.OpCrash
				if e.Op == history.OpPublish && e.Outcome == history.OK {
					published++
				}
			}
			if crashed != (c.point != "") {
				t.Errorf("crashed %v, want a crash at %q", crashed, c.point)
			}
			if published != c.published || h.Final.Ready != c.published {
				t.Errorf("published %d, ready %d; want %d", published, h.Final.Ready, c.published)
			}
		})
	}
}
