package conformance

// Effects: Apply, ApplyIdempotent and ApplyVersioned under each workload's semantics.

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// checkApplyIdempotent: ApplyIdempotent twice, in one transaction and in two, leaves one effect.
func checkApplyIdempotent(t *testing.T, b Backend, w workload.Workload) {
	s := newScene(t)
	m := order("idem-1")
	if w.Effect == workload.Add {
		m = credit("idem-1", "acct-idem", 5)
	}
	f := b.Run(t, Setup{Workload: w.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if !s.commitTx(ctx, env, "first apply", func(tx strategies.Tx) error { return tx.ApplyIdempotent(ctx, m) }) {
				return
			}
			s.commitTx(ctx, env, "repeats", func(tx strategies.Tx) error {
				if err := tx.ApplyIdempotent(ctx, m); err != nil {
					return err
				}
				return tx.ApplyIdempotent(ctx, m)
			})
		},
	)
	wantEffects(t, f, m.ID, 1)
	if w.Effect == workload.Add {
		wantValue(t, f, m.Key, m.Amount)
	}
}

// checkApplyTwiceOrders: plain Apply is not idempotent: twice is two payments.
func checkApplyTwiceOrders(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	m := order("twice-1")
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			for range 2 {
				if !s.commitTx(ctx, env, "apply", func(tx strategies.Tx) error { return tx.Apply(ctx, m) }) {
					return
				}
			}
		},
	)
	wantEffects(t, f, m.ID, 2)
}

// checkApplyCredits: every Apply adds its amount to the balance, repeats included.
func checkApplyCredits(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	c1, c2 := credit("cr-1", "acct-cr", 5), credit("cr-2", "acct-cr", 7)
	f := b.Run(t, Setup{Workload: workload.Credits.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			for _, m := range []history.Message{c1, c1, c2} {
				if !s.commitTx(ctx, env, "apply "+m.ID, func(tx strategies.Tx) error { return tx.Apply(ctx, m) }) {
					return
				}
			}
		},
	)
	wantEffects(t, f, c1.ID, 2)
	wantEffects(t, f, c2.ID, 1)
	wantValue(t, f, "acct-cr", 5+5+7)
}

// checkConcurrentCredits: two transactions crediting one account at once lose no update.
func checkConcurrentCredits(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	c1, c2 := credit("cc-1", "acct-cc", 5), credit("cc-2", "acct-cc", 7)
	var applied, applying atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Credits.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.Apply(ctx, c1), "apply") {
				return
			}
			applied.Store(true)
			if !s.await(ctx, env, &applying, "the second credit") {
				return
			}
			env.Clock.Sleep(ctx, settle)
			s.ok(env, tx.Commit(ctx), "commit")
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &applied, "the first credit") {
				return
			}
			applying.Store(true)
			s.commitTx(ctx, env, "apply", func(tx strategies.Tx) error { return tx.Apply(ctx, c2) })
		},
	)
	wantValue(t, f, "acct-cc", 5+7)
}

// checkApplyPrices: Apply sets the price; the last one applied stays.
func checkApplyPrices(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	p1, p2 := price("pr-1", "prod-1", 25), price("pr-2", "prod-1", 30)
	f := b.Run(t, Setup{Workload: workload.Prices.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			for _, m := range []history.Message{p1, p2} {
				if !s.commitTx(ctx, env, "apply "+m.ID, func(tx strategies.Tx) error { return tx.Apply(ctx, m) }) {
					return
				}
			}
		},
	)
	wantValue(t, f, "prod-1", 30)
}

// checkVersioned: ApplyVersioned applies only what is newer than the key's version; a repeat
// and an older event change nothing, and say so.
func checkVersioned(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	at := func(id string, seq, amount int64) history.Message {
		m := price(id, "prod-v", amount)
		m.Seq = seq
		return m
	}
	steps := []struct {
		m       history.Message
		applied bool
	}{
		{at("pv-2", 2, 20), true},
		{at("pv-1", 1, 10), false}, // overtaken: older than what is stored
		{at("pv-2", 2, 20), false}, // a repeat
		{at("pv-3", 3, 30), true},
	}
	f := b.Run(t, Setup{Workload: workload.Prices.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			for _, st := range steps {
				if !s.commitTx(ctx, env, "versioned "+st.m.ID, func(tx strategies.Tx) error {
					applied, err := tx.ApplyVersioned(ctx, st.m)
					if err == nil {
						s.want(env, applied, st.applied, fmt.Sprintf("%s (seq %d) applied", st.m.ID, st.m.Seq))
					}
					return err
				}) {
					return
				}
			}
		},
	)
	wantValue(t, f, "prod-v", 30)
	wantEffects(t, f, "pv-1", 0)
	wantEffects(t, f, "pv-2", 1)
	wantEffects(t, f, "pv-3", 1)
}

// checkEmails: the emails workload's effect is a call to the mail gateway, outside the database.
// A rolled-back transaction does not unsend its email; without a key the gateway sends every
// request; with one (ApplyIdempotent: the event id) it sends the first only.
func checkEmails(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	m1 := history.Message{ID: "signup-1", Key: "user-1", Amount: 1, Seq: 1, Kind: "UserRegistered"}
	m2 := history.Message{ID: "signup-2", Key: "user-2", Amount: 2, Seq: 1, Kind: "UserRegistered"}
	f := b.Run(t, Setup{Workload: workload.Emails.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			tx, ok := s.begin(ctx, env)
			if !ok {
				return
			}
			if !s.ok(env, tx.Apply(ctx, m1), "send in a transaction") || !s.ok(env, tx.Rollback(ctx), "rollback") {
				return
			}
			if !s.commitTx(ctx, env, "send again", func(tx strategies.Tx) error { return tx.Apply(ctx, m1) }) {
				return
			}
			for range 2 {
				if !s.commitTx(ctx, env, "send with a key", func(tx strategies.Tx) error { return tx.ApplyIdempotent(ctx, m2) }) {
					return
				}
			}
		},
	)
	wantEffects(t, f, "signup-1", 2)
	wantEffects(t, f, "signup-2", 1)
}
