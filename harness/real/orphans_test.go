package real

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// queueExists says whether the broker has run runID's queue.
func queueExists(t *testing.T, inf Infra, runID string) bool {
	t.Helper()
	q := amqp.QueueOf(inf.AMQPURL, runID)
	defer func() { _ = q.Close() }()
	ok, err := q.Exists(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

// TestCleanTakesDeadRunsOnly: a run whose process is gone (its schema closed: the liveness lock
// is free) loses its queue, its slot, a session it left open and its schema; a live run keeps
// everything; a dry run lists the dead run's things and removes none of them.
func TestCleanTakesDeadRunsOnly(t *testing.T) {
	inf := realtest.Database(t, realtest.Require(t))
	t.Parallel()
	logical := walLevel(t, inf) == "logical"
	ctx := testCtx(t)
	admin := realtest.AdminConn(t, inf)
	type runThings struct {
		schema *pg.Schema
		slot   *pg.Slot
		queue  *amqp.Queue
	}
	mk := func() runThings {
		var r runThings
		r.schema = pgTestSchema(t, inf)
		runID := strings.TrimPrefix(r.schema.Name, pg.SchemaPrefix)
		if logical {
			r.slot = logTestSlot(t, inf, r.schema)
		}
		q, err := amqp.DeclareQueue(ctx, inf.AMQPURL, runID)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = q.Delete(context.Background()); _ = q.Close() })
		r.queue = q
		return r
	}
	dead, live := mk(), mk()
	deadRun := strings.TrimPrefix(dead.schema.Name, pg.SchemaPrefix)
	liveRun := strings.TrimPrefix(live.schema.Name, pg.SchemaPrefix)

	// A worker of the dead run that outlived it: a session under the run's name, in a
	// transaction that holds a lock on one of its tables.
	cfg, err := pgx.ParseConfig(inf.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = dead.schema.Name
	straggler, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer straggler.Close(context.Background())
	if _, err := straggler.Exec(ctx, `BEGIN; LOCK TABLE `+pgx.Identifier{dead.schema.Name, "outbox"}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if dead.slot != nil {
		dead.slot.Close()
	}
	dead.schema.Close() // the process is gone: its liveness lock with it

	want := []Leftover{{Kind: "queue", Name: amqp.QueueName(deadRun), Run: deadRun}}
	if logical {
		want = append(want, Leftover{Kind: "slot", Name: dead.schema.Name, Run: deadRun})
	}
	want = append(want, Leftover{Kind: "schema", Name: dead.schema.Name, Run: deadRun})

	for _, dryRun := range []bool{true, false} {
		rep, err := Clean(ctx, inf, dryRun)
		if err != nil {
			t.Fatalf("dry run %v: %v", dryRun, err)
		}
		if !slices.Equal(rep.Dropped, want) {
			t.Errorf("dry run %v: dropped %v, want %v", dryRun, rep.Dropped, want)
		}
		if !slices.Contains(rep.Live, liveRun) || slices.Contains(rep.Live, deadRun) {
			t.Errorf("dry run %v: live runs %v, want %s and not %s", dryRun, rep.Live, liveRun, deadRun)
		}
		gone := !dryRun
		if realtest.SchemaExists(t, admin, dead.schema.Name) == gone || queueExists(t, inf, deadRun) == gone ||
			logical && realtest.SlotExists(t, admin, dead.schema.Name) == gone {
			t.Errorf("dry run %v: the dead run's schema, slot and queue should be gone: %v", dryRun, gone)
		}
	}
	if !realtest.SchemaExists(t, admin, live.schema.Name) || !queueExists(t, inf, liveRun) ||
		logical && !realtest.SlotExists(t, admin, live.schema.Name) {
		t.Error("Clean touched the live run")
	}
	if _, err := live.schema.Final(ctx); err != nil {
		t.Errorf("the live run's schema is damaged: %v", err)
	}
}

// TestCleanLeavesUnmarkedSchemas: a schema named like the harness's without its marker is
// listed as left alone, and stays.
func TestCleanLeavesUnmarkedSchemas(t *testing.T) {
	inf := realtest.Database(t, realtest.Require(t))
	t.Parallel()
	ctx := testCtx(t)
	admin := realtest.AdminConn(t, inf)
	name := pg.SchemaPrefix + testRunID(t)
	if _, err := admin.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	rep, err := Clean(ctx, inf, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Dropped) > 0 || len(rep.Skipped) != 1 || !strings.Contains(rep.Skipped[0], name) {
		t.Errorf("report %+v: want nothing dropped and %s left alone", rep, name)
	}
	if !realtest.SchemaExists(t, admin, name) {
		t.Error("the unmarked schema was dropped")
	}
}

// TestFinalReadFailureIsHarnessError: when the final state cannot be read, the run is a harness
// error, never a verdict on an empty state; it still removes what it made.
func TestFinalReadFailureIsHarnessError(t *testing.T) {
	inf := realtest.Require(t)
	for _, tc := range []struct {
		name, want string
		spoil      func(ctx context.Context, t *testing.T, schema string)
	}{
		{"database", "final read of the database", func(ctx context.Context, t *testing.T, schema string) {
			c := realtest.AdminConn(t, inf)
			if _, err := c.Exec(ctx, `ALTER TABLE `+pgx.Identifier{schema, "effects"}.Sanitize()+` RENAME TO effects_gone`); err != nil {
				t.Error(err)
			}
		}},
		{"queue", "final read of the queue depth", func(ctx context.Context, t *testing.T, schema string) {
			runID := strings.TrimPrefix(schema, pg.SchemaPrefix)
			q := amqp.QueueOf(inf.AMQPURL, runID)
			defer func() { _ = q.Close() }()
			if err := q.Delete(ctx); err != nil {
				t.Error(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := NewBackend(inf)
			b.beforeFinal = func(ctx context.Context, schema string) { tc.spoil(ctx, t, schema) }
			sc := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "none", Seed: 1,
				Commands:  []history.Message{{ID: "order-1", Key: "order-1", Amount: 10, Seq: 1, Kind: "OrderPlaced"}},
				Consumers: 1, Prefetch: 1, Batch: 1}
			h, err := b.Run(context.Background(), sc, mustProducer(t, sc.Producer), mustConsumer(t, sc.Consumer))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a harness error about the %s", err, tc.want)
			}
			if h == nil || h.Run == "" {
				t.Fatal("no history of the failed run")
			}
			admin := realtest.AdminConn(t, inf)
			if realtest.SchemaExists(t, admin, pg.SchemaPrefix+h.Run) {
				t.Errorf("the run left its schema behind")
			}
		})
	}
}

func walLevel(t *testing.T, inf Infra) string {
	t.Helper()
	return realtest.WALLevel(t, inf)
}

func mustProducer(t *testing.T, name string) strategies.Producer {
	t.Helper()
	p, err := strategies.LookupProducer(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mustConsumer(t *testing.T, name string) strategies.Consumer {
	t.Helper()
	c, err := strategies.LookupConsumer(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
