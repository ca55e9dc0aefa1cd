package real_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/strategies"
)

// cursorRelay is a team's offset relay: the outbox producer's business transaction, and a relay
// that reads the rows after its durable cursor, publishes them with confirms and advances the
// cursor in the same transaction that read them. It marks nothing published. A crash before the
// commit leaves the cursor where it was, so the batch is published again (the inbox consumer
// drops the copies); one after it publishes nothing twice. With one producer process, ids commit
// in id order, so the cursor skips no row.
type cursorRelay struct{ strategies.Outbox }

const cursorRelayName = "test-cursor-relay"

func (cursorRelay) Name() string { return cursorRelayName }
func (cursorRelay) Doc() string  { return "outbox read after a durable cursor, advanced with the read" }
func (cursorRelay) RelayPoints() []string {
	return []string{strategies.PointRelayAfterRead, strategies.PointRelayAfterPublish, strategies.PointRelayAfterCommit}
}

func (cursorRelay) RelayPass(ctx context.Context, env strategies.RelayEnv) (int, error) {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return 0, err
	}
	fail := func(err error) (int, error) {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	cur, err := tx.RelayCursor(ctx, cursorRelayName)
	if err != nil {
		return fail(err)
	}
	rows, err := tx.ReadOutboxAfter(ctx, cur, env.Batch)
	if err != nil || len(rows) == 0 {
		return fail(err)
	}
	env.Faults.Point(ctx, strategies.PointRelayAfterRead)
	for _, r := range rows {
		c, err := env.Publisher.Publish(ctx, r.Msg)
		if err != nil {
			return fail(err)
		}
		if err := c.Wait(ctx); err != nil {
			return fail(err)
		}
	}
	env.Faults.Point(ctx, strategies.PointRelayAfterPublish)
	if err := tx.SetRelayCursor(ctx, cursorRelayName, rows[len(rows)-1].ID); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	env.Faults.Point(ctx, strategies.PointRelayAfterCommit)
	return len(rows), nil
}

// The worker processes are this test binary: they find the relay by name, so it is registered
// before TestMain's worker hook runs.
func init() {
	if err := strategies.RegisterProducer(cursorRelayName, func() strategies.Producer { return cursorRelay{} }); err != nil {
		panic(err)
	}
}

// TestOffsetRelaySettles: a run whose relay reads after a cursor and marks nothing settles on
// both backends (the work left is the rows after the cursor, not the unpublished ones) and keeps
// every invariant with the inbox consumer, without faults and under crash-relay.
func TestOffsetRelaySettles(t *testing.T) {
	backends := []struct {
		name  string
		b     func(t *testing.T) harness.Backend
		seeds uint64
	}{
		{"sim", func(*testing.T) harness.Backend { return harness.NewSim() }, 60},
		{"real", func(t *testing.T) harness.Backend { return real.NewBackend(realtest.Require(t)) }, 3},
	}
	for _, be := range backends {
		for _, kind := range []string{fault.None, fault.CrashRelay} {
			t.Run(be.name+"/"+kind, func(t *testing.T) {
				b := be.b(t)
				crashes := 0
				for seed := uint64(1); seed <= be.seeds; seed++ {
					sc, err := scenarios.GenerateFor(scenarios.NewSeedSource(seed), cursorRelay{}, strategies.Inbox{}, workload.Orders.Name, kind, scenarios.DefaultLimits)
					if err != nil {
						t.Fatal(err)
					}
					sc.Seed = seed
					h, err := harness.RunWith(context.Background(), b, sc, cursorRelay{}, strategies.Inbox{})
					if err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
					if vs := invariants.Check(h); len(vs) > 0 {
						t.Fatalf("seed %d: %v", seed, vs)
					}
					if !h.Quiesced || len(h.Final.Effects) != len(sc.Commands) {
						t.Fatalf("seed %d: quiesced %v with %d effects, want %d", seed, h.Quiesced, len(h.Final.Effects), len(sc.Commands))
					}
					for _, r := range h.Final.Outbox {
						if r.Published {
							t.Fatalf("seed %d: outbox row %d marked published by a relay that marks nothing", seed, r.ID)
						}
					}
					for _, e := range h.Events {
						if e.Op == history.OpCrash && e.Proc == "relay" {
							crashes++
						}
					}
				}
				if kind == fault.CrashRelay && crashes == 0 {
					t.Errorf("no relay crash in %d seeds", be.seeds)
				}
				t.Log(fmt.Sprintf("%d seeds, %d relay crashes", be.seeds, crashes))
			})
		}
	}
}
