package conformance

// The dedup window's store: records that a forget deletes by age, under a unique key whose
// concurrent writers wait for each other.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

func init() {
	checks = append(checks,
		check{"tx-dedup-window-forgets-by-age", checkWindowForget},
		check{"tx-dedup-window-insert-waits-for-forget", checkWindowWaits},
	)
}

// checkWindowForget: a record is refused on its key until a forget deletes it; a forget deletes
// only the consumer's records seen before its time, and the key is free again after it.
func checkWindowForget(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			now := env.Clock.Now()
			old, fresh := now.Add(-2*time.Second), now
			if !s.commitTx(ctx, env, "records", func(tx strategies.Tx) error {
				for _, r := range []struct {
					consumer, id string
					at           time.Time
				}{{group, "w-old", old}, {group, "w-fresh", fresh}, {group + "-other", "w-old", old}} {
					if err := tx.WindowInsert(ctx, r.consumer, r.id, r.at); err != nil {
						return err
					}
				}
				return nil
			}) {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.is(env, tx.WindowInsert(ctx, group, "w-old", now), strategies.ErrDuplicateKey, "insert of a recorded key before a forget") {
				_ = tx.Rollback(ctx)
				return
			}
			_ = tx.Rollback(ctx)

			tx, ok = s.begin(ctx, env)
			if !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			n, err := tx.WindowForget(ctx, group, now.Add(-time.Second))
			if !s.ok(env, err, "forget") {
				return
			}
			if n != 1 {
				s.errorf(env, "forget before now-1s: deleted %d records, want 1 (the consumer's record seen 2s ago)", n)
			}
			if !s.ok(env, tx.WindowInsert(ctx, group, "w-old", now), "insert of a forgotten key") {
				return
			}
			if !s.is(env, tx.WindowInsert(ctx, group, "w-fresh", now), strategies.ErrDuplicateKey, "insert of a key still in the window") {
				return
			}
			_ = tx.Rollback(ctx)

			// Another consumer's record of the same id was not forgotten.
			tx, ok = s.begin(ctx, env)
			if !ok {
				return
			}
			s.is(env, tx.WindowInsert(ctx, group+"-other", "w-old", now), strategies.ErrDuplicateKey, "insert of another consumer's record")
		},
	)
}

// checkWindowWaits: an insert of a key whose old record another transaction is forgetting waits
// for that transaction, then takes the key.
func checkWindowWaits(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	var forgot, inserting atomic.Bool
	b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			now := env.Clock.Now()
			if !s.commitTx(ctx, env, "old record", func(tx strategies.Tx) error {
				return tx.WindowInsert(ctx, group, "w-wait", now.Add(-2*time.Second))
			}) {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			n, err := tx.WindowForget(ctx, group, now.Add(-time.Second))
			if !s.ok(env, err, "forget") || n != 1 {
				s.errorf(env, "forget: deleted %d records, want 1", n)
				_ = tx.Rollback(ctx)
				return
			}
			forgot.Store(true)
			if !s.await(ctx, env, &inserting, "the other transaction's insert") {
				_ = tx.Rollback(ctx)
				return
			}
			env.Clock.Sleep(ctx, 20*time.Millisecond) // the insert is waiting on the key by now
			s.ok(env, tx.Commit(ctx), "commit of the forget")
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &forgot, "the forget") {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			inserting.Store(true)
			if s.ok(env, tx.WindowInsert(ctx, group, "w-wait", env.Clock.Now()), "insert after the forget committed") {
				s.ok(env, tx.Commit(ctx), "commit")
			}
		},
	)
}
