package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// Timing of the bodies. Every wait has a bound: on the simulator these are simulated
// milliseconds and cost nothing; on real servers they bound a check that went wrong.
const (
	pollEvery = time.Millisecond      // a waiting body looks at its flag this often
	waitFor   = 5 * time.Second       // a flag not set by then is a failure
	settle    = 20 * time.Millisecond // how long a body lets another get stuck in a lock wait
	maxIdle   = 20                    // idle waits a body rides out while it expects a delivery
)

// group is the consumer part of every inbox key the suite writes.
const group = "conformance"

// scene is one check's shared state: its test, and a flag that makes the bodies stop waiting for
// each other once one of them has failed.
type scene struct {
	t      testing.TB
	failed atomic.Bool
}

func newScene(t testing.TB) *scene { return &scene{t: t} }

func (s *scene) errorf(env Env, format string, args ...any) {
	s.t.Helper()
	s.failed.Store(true)
	s.t.Errorf("%s: %s", env.Name, fmt.Sprintf(format, args...))
}

// ok reports a non-nil err as a failure of what the body was doing.
func (s *scene) ok(env Env, err error, what string) bool {
	s.t.Helper()
	if err != nil {
		s.errorf(env, "%s: unexpected error: %v", what, err)
		return false
	}
	return true
}

// is reports an err that is not target as a failure.
func (s *scene) is(env Env, err, target error, what string) bool {
	s.t.Helper()
	if !errors.Is(err, target) {
		s.errorf(env, "%s: got error %v, want %v", what, err, target)
		return false
	}
	return true
}

// want reports got != want as a failure.
func (s *scene) want(env Env, got, want bool, what string) bool {
	s.t.Helper()
	if got != want {
		s.errorf(env, "%s: got %v, want %v", what, got, want)
		return false
	}
	return true
}

// await waits, through the Clock, for another body to set sig.
func (s *scene) await(ctx context.Context, env Env, sig *atomic.Bool, what string) bool {
	s.t.Helper()
	for range int(waitFor / pollEvery) {
		if sig.Load() {
			return true
		}
		if s.failed.Load() {
			return false
		}
		env.Clock.Sleep(ctx, pollEvery)
	}
	s.errorf(env, "gave up after %v waiting for %s", waitFor, what)
	return false
}

func (s *scene) begin(ctx context.Context, env Env) (strategies.Tx, bool) {
	s.t.Helper()
	tx, err := env.Store.Begin(ctx)
	if !s.ok(env, err, "begin") {
		return nil, false
	}
	return tx, true
}

// commitTx opens a transaction, runs stmts in it and commits it.
func (s *scene) commitTx(ctx context.Context, env Env, what string, stmts func(tx strategies.Tx) error) bool {
	s.t.Helper()
	tx, ok := s.begin(ctx, env)
	if !ok {
		return false
	}
	if err := stmts(tx); err != nil {
		s.errorf(env, "%s: unexpected error: %v", what, err)
		_ = tx.Rollback(ctx)
		return false
	}
	return s.ok(env, tx.Commit(ctx), what+": commit")
}

// claim opens a transaction and claims up to limit outbox rows in it.
func (s *scene) claim(ctx context.Context, env Env, limit int) (strategies.Tx, []string, []int64, bool) {
	s.t.Helper()
	tx, ok := s.begin(ctx, env)
	if !ok {
		return nil, nil, nil, false
	}
	rows, err := tx.ClaimOutbox(ctx, limit)
	if !s.ok(env, err, "claim outbox") {
		_ = tx.Rollback(ctx)
		return nil, nil, nil, false
	}
	var msgs []string
	var ids []int64
	for _, r := range rows {
		msgs = append(msgs, r.Msg.ID)
		ids = append(ids, r.ID)
	}
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			s.errorf(env, "claim outbox: rows %v are not oldest first", ids)
			break
		}
	}
	return tx, msgs, ids, true
}

// publish publishes every message and waits for each confirm.
func (s *scene) publish(ctx context.Context, env Env, msgs ...history.Message) bool {
	s.t.Helper()
	for _, m := range msgs {
		conf, err := env.Publisher.Publish(ctx, m)
		if !s.ok(env, err, "publish "+m.ID) {
			return false
		}
		if !s.ok(env, conf.Wait(ctx), "confirm of "+m.ID) {
			return false
		}
	}
	return true
}

// next waits for a delivery, riding out up to maxIdle idle waits.
func (s *scene) next(ctx context.Context, env Env) (strategies.Delivery, bool) {
	s.t.Helper()
	for range maxIdle {
		d, err := env.Sub.Next(ctx)
		switch {
		case err == nil:
			return d, true
		case !errors.Is(err, strategies.ErrIdle):
			s.errorf(env, "next: unexpected error: %v", err)
			return d, false
		case s.failed.Load():
			return d, false
		}
	}
	s.errorf(env, "next: no delivery within %d idle waits", maxIdle)
	return strategies.Delivery{}, false
}

// expect takes the next delivery and requires its message and redelivered flag.
func (s *scene) expect(ctx context.Context, env Env, id string, redelivered bool) (strategies.Delivery, bool) {
	s.t.Helper()
	d, ok := s.next(ctx, env)
	if !ok {
		return d, false
	}
	if d.Msg.ID != id || d.Redelivered != redelivered {
		s.errorf(env, "next: got %s (redelivered=%v), want %s (redelivered=%v)", d.Msg.ID, d.Redelivered, id, redelivered)
		return d, false
	}
	return d, true
}

// idle requires that Next returns ErrIdle: nothing is (or may be) delivered to this consumer.
func (s *scene) idle(ctx context.Context, env Env, why string) bool {
	s.t.Helper()
	d, err := env.Sub.Next(ctx)
	if err == nil {
		s.errorf(env, "next: got %s (redelivered=%v), want %v: %s", d.Msg.ID, d.Redelivered, strategies.ErrIdle, why)
		return false
	}
	return s.is(env, err, strategies.ErrIdle, "next ("+why+")")
}

func (s *scene) ack(ctx context.Context, env Env, ds ...strategies.Delivery) bool {
	s.t.Helper()
	for _, d := range ds {
		if !s.ok(env, env.Sub.Ack(ctx, d.Tag), "ack "+d.Msg.ID) {
			return false
		}
	}
	return true
}

// Messages of the workloads.

func order(id string) history.Message {
	return history.Message{ID: id, Key: id, Amount: 100, Kind: "OrderPlaced"}
}

func credit(id, account string, amount int64) history.Message {
	return history.Message{ID: id, Key: account, Amount: amount, Kind: "AccountCredited"}
}

func price(id, product string, amount int64) history.Message {
	return history.Message{ID: id, Key: product, Amount: amount, Kind: "ProductPriceChanged"}
}

// Final-state assertions, on the test's goroutine after Run.

func effectsOf(f history.Final, msg string) int {
	n := 0
	for _, e := range f.Effects {
		if e.Msg == msg {
			n++
		}
	}
	return n
}

func valueOf(f history.Final, key string) int64 {
	for _, v := range f.Values {
		if v.Key == key {
			return v.Value
		}
	}
	return 0
}

func wantEffects(t testing.TB, f history.Final, msg string, n int) {
	t.Helper()
	if got := effectsOf(f, msg); got != n {
		t.Errorf("final: %d effects for %s, want %d (effects: %v)", got, msg, n, f.Effects)
	}
}

func wantValue(t testing.TB, f history.Final, key string, v int64) {
	t.Helper()
	if got := valueOf(f, key); got != v {
		t.Errorf("final: value of %s is %d, want %d (values: %v)", key, got, v, f.Values)
	}
}

func wantBrokerEmpty(t testing.TB, f history.Final) {
	t.Helper()
	if f.Ready != 0 || f.Unacked != 0 {
		t.Errorf("final: broker holds %d ready and %d unacked messages, want none", f.Ready, f.Unacked)
	}
}
