package conformance

// The dedup-buffer producer's send buffer: a put of an id the buffer holds is dropped, an id is
// forgotten once its row is published and older than the period, the relay claims only rows put
// at or before a time, and a concurrent put of the same id waits for the first transaction.

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/workload"
)

func init() {
	checks = append(checks,
		check{"buffer-put-hold-claim-forget", checkBuffer},
		check{"buffer-concurrent-put-first-commits", func(t *testing.T, b Backend, _ Features) { checkBufferConcurrent(t, b, true) }},
		check{"buffer-concurrent-put-first-rolls-back", func(t *testing.T, b Backend, _ Features) { checkBufferConcurrent(t, b, false) }},
	)
}

// bufferPeriod is the period the checks put with.
const bufferPeriod = 100 * time.Millisecond

// put runs one BufferPut at at in its own transaction, committed when it wrote, and reports
// whether it wrote.
func (s *scene) put(ctx context.Context, env Env, id string, at time.Time) (bool, bool) {
	tx, ok := s.begin(ctx, env)
	if !ok {
		return false, false
	}
	fresh, err := tx.BufferPut(ctx, order(id), at, bufferPeriod)
	if !s.ok(env, err, "buffer put "+id) {
		_ = tx.Rollback(ctx)
		return false, false
	}
	if !fresh {
		return false, s.ok(env, tx.Rollback(ctx), "rollback")
	}
	return true, s.ok(env, tx.Commit(ctx), "commit")
}

// checkBuffer: a put writes an outbox row; a repeat while it is unpublished, or published but
// within the period, is dropped; once published and older than the period the id is forgotten.
// The relay claims only rows put at or before its time, and NextBuffered names the oldest
// unpublished one.
func checkBuffer(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // times are the caller's: whole milliseconds
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			for _, step := range []struct {
				id   string
				at   time.Time
				want bool
				why  string
			}{
				{"buf-1", t0, true, "a first put"},
				{"buf-1", t0.Add(time.Hour), false, "a repeat while the row is unpublished, however late"},
				{"buf-2", t0.Add(10 * time.Millisecond), true, "another id"},
			} {
				fresh, ok := s.put(ctx, env, step.id, step.at)
				if !ok || !s.want(env, fresh, step.want, step.why) {
					return
				}
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			next, found, err := tx.NextBuffered(ctx)
			if !s.ok(env, err, "next buffered") || !s.want(env, found && next.Equal(t0), true, "the oldest unpublished put is buf-1's") {
				_ = tx.Rollback(ctx)
				return
			}
			rows, err := tx.ClaimBuffered(ctx, t0.Add(-time.Millisecond), 10)
			if !s.ok(env, err, "claim before every put") || !s.want(env, len(rows) == 0, true, "nothing put before the claim's time is claimed") {
				_ = tx.Rollback(ctx)
				return
			}
			rows, err = tx.ClaimBuffered(ctx, t0.Add(5*time.Millisecond), 10)
			if !s.ok(env, err, "claim") || !s.want(env, len(rows) == 1 && rows[0].Msg.ID == "buf-1", true, "the claim takes buf-1 only") {
				_ = tx.Rollback(ctx)
				return
			}
			if !s.ok(env, tx.MarkPublished(ctx, []int64{rows[0].ID}), "mark") || !s.ok(env, tx.Commit(ctx), "commit") {
				return
			}
			for _, step := range []struct {
				at   time.Time
				want bool
				why  string
			}{
				{t0.Add(bufferPeriod / 2), false, "a repeat of a published row within the period"},
				{t0.Add(2 * bufferPeriod), true, "a put of a published row past the period: forgotten"},
			} {
				fresh, ok := s.put(ctx, env, "buf-1", step.at)
				if !ok || !s.want(env, fresh, step.want, step.why) {
					return
				}
			}
			tx, ok = s.begin(ctx, env)
			if !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			rows, err = tx.ClaimBuffered(ctx, t0.Add(time.Hour), 10)
			if s.ok(env, err, "claim") {
				s.want(env, len(rows) == 2 && rows[0].Msg.ID == "buf-2" && rows[1].Msg.ID == "buf-1", true, "the claim takes buf-2 and the new buf-1, oldest row first")
			}
		},
	)
	if n := len(f.Outbox); n != 3 {
		t.Errorf("final: %d outbox rows, want 3 (buf-1, buf-2, buf-1 again)", n)
	}
}

// checkBufferConcurrent: a second put of an id that an open transaction has put waits for it;
// once it commits the second is dropped, once it rolls back the second writes.
func checkBufferConcurrent(t *testing.T, b Backend, firstCommits bool) {
	s := newScene(t)
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var put, putting, ending atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			fresh, err := tx.BufferPut(ctx, order("cb-1"), at, bufferPeriod)
			if !s.ok(env, err, "buffer put") || !s.want(env, fresh, true, "the first put writes") {
				_ = tx.Rollback(ctx)
				return
			}
			put.Store(true)
			if !s.await(ctx, env, &putting, "the second put") {
				_ = tx.Rollback(ctx)
				return
			}
			env.Clock.Sleep(ctx, settle) // let the second put get stuck on the key
			ending.Store(true)
			if firstCommits {
				s.ok(env, tx.Commit(ctx), "commit")
			} else {
				s.ok(env, tx.Rollback(ctx), "rollback")
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &put, "the first put") {
				return
			}
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			defer func() { _ = tx.Rollback(ctx) }()
			putting.Store(true)
			fresh, err := tx.BufferPut(ctx, order("cb-1"), at.Add(time.Millisecond), bufferPeriod)
			if !ending.Load() {
				s.errorf(env, "buffer put returned (%v, %v) while the first transaction held the id: it did not wait", fresh, err)
				return
			}
			if !s.ok(env, err, "buffer put") || !s.want(env, fresh, !firstCommits, "the second put writes only if the first rolled back") || !fresh {
				return
			}
			s.ok(env, tx.Commit(ctx), "commit")
		},
	)
	if n := len(f.Outbox); n != 1 {
		t.Errorf("final: %d outbox rows, want 1", n)
	}
}
