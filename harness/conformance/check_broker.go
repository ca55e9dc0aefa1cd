package conformance

// The broker: publisher confirms, consume, nack and requeue, requeue at exit, prefetch, idle.

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/workload"
)

// checkConfirmedQueued: a confirmed message waits in the queue while nobody consumes.
func checkConfirmedQueued(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) { s.publish(ctx, env, order("cq-1"), order("cq-2")) },
	)
	if f.Ready != 2 || f.Unacked != 0 {
		t.Errorf("final: broker holds %d ready and %d unacked messages, want 2 ready", f.Ready, f.Unacked)
	}
}

// checkPublishConsume: a confirmed message is delivered, not flagged redelivered, in publish order.
func checkPublishConsume(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	var published atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("pc-1"), order("pc-2")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			for _, id := range []string{"pc-1", "pc-2"} {
				d, ok := s.expect(ctx, env, id, false)
				if !ok || !s.ack(ctx, env, d) {
					return
				}
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkNackRequeue: a delivery nacked with requeue comes back flagged redelivered (at its old
// place with RequeueKeepsPosition); the others are not flagged.
func checkNackRequeue(t *testing.T, b Backend, feat Features) {
	s := newScene(t)
	var published atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("nr-1"), order("nr-2")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			d, ok := s.expect(ctx, env, "nr-1", false)
			if !ok || !s.ok(env, env.Sub.Nack(ctx, d.Tag, true), "nack with requeue") {
				return
			}
			got := map[string]bool{}
			var seq []string
			for range 2 {
				d, ok := s.next(ctx, env)
				if !ok || !s.ack(ctx, env, d) {
					return
				}
				got[d.Msg.ID] = d.Redelivered
				seq = append(seq, d.Msg.ID)
			}
			if redelivered, ok := got["nr-1"]; !ok || !redelivered {
				s.errorf(env, "after the nack: deliveries %v (redelivered flags %v), want nr-1 again flagged redelivered", seq, got)
				return
			}
			if redelivered, ok := got["nr-2"]; !ok || redelivered {
				s.errorf(env, "after the nack: deliveries %v (redelivered flags %v), want nr-2 not flagged redelivered", seq, got)
				return
			}
			if feat.RequeueKeepsPosition && seq[0] != "nr-1" {
				s.errorf(env, "after the nack: deliveries in order %v, want the requeued nr-1 first", seq)
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkNackDiscard: a delivery nacked without requeue is gone.
func checkNackDiscard(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	var published atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("nd-1")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirm") {
				return
			}
			d, ok := s.expect(ctx, env, "nd-1", false)
			if !ok || !s.ok(env, env.Sub.Nack(ctx, d.Tag, false), "nack without requeue") {
				return
			}
			s.idle(ctx, env, "a message nacked without requeue")
		},
	)
	wantBrokerEmpty(t, f)
}

// checkExitRequeues: the unacked deliveries of a consumer that exits go to another consumer,
// flagged redelivered.
func checkExitRequeues(t *testing.T, b Backend, feat Features) {
	s := newScene(t)
	var published, took atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 2},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("ex-1"), order("ex-2")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			for _, id := range []string{"ex-1", "ex-2"} {
				if _, ok := s.expect(ctx, env, id, false); !ok {
					return
				}
			}
			took.Store(true)
			// Exit with both deliveries unacknowledged.
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &took, "the first consumer's deliveries") {
				return
			}
			var seq []string
			for range 2 {
				d, ok := s.next(ctx, env)
				if !ok || !s.ack(ctx, env, d) {
					return
				}
				if !d.Redelivered {
					s.errorf(env, "next: got %s not flagged redelivered, want the flag on a delivery the exited consumer held", d.Msg.ID)
				}
				seq = append(seq, d.Msg.ID)
			}
			sorted := slices.Sorted(slices.Values(seq))
			if !slices.Equal(sorted, []string{"ex-1", "ex-2"}) {
				s.errorf(env, "got deliveries %v, want ex-1 and ex-2", seq)
			} else if feat.RequeueKeepsPosition && !slices.Equal(seq, sorted) {
				s.errorf(env, "got deliveries in order %v, want their original order", seq)
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkPrefetch: a consumer holds at most Prefetch unacked deliveries, each consumer its own;
// an ack frees a slot for the next ready message.
func checkPrefetch(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	var published, full1, full2, gotLast atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 2},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("pf-1"), order("pf-2"), order("pf-3"), order("pf-4"), order("pf-5")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			d1, ok := s.expect(ctx, env, "pf-1", false)
			if !ok {
				return
			}
			d2, ok := s.expect(ctx, env, "pf-2", false)
			if !ok || !s.idle(ctx, env, "two deliveries unacked at prefetch 2") {
				return
			}
			full1.Store(true)
			if !s.await(ctx, env, &full2, "the second consumer at its prefetch") || !s.ack(ctx, env, d1) {
				return
			}
			// The ack freed one slot, and the other consumer has none: the last message comes here.
			d5, ok := s.expect(ctx, env, "pf-5", false)
			if !ok {
				return
			}
			gotLast.Store(true)
			s.ack(ctx, env, d2, d5)
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &full1, "the first consumer at its prefetch") {
				return
			}
			d3, ok := s.expect(ctx, env, "pf-3", false)
			if !ok {
				return
			}
			d4, ok := s.expect(ctx, env, "pf-4", false)
			if !ok || !s.idle(ctx, env, "two deliveries unacked at prefetch 2, one message ready") {
				return
			}
			full2.Store(true)
			if s.await(ctx, env, &gotLast, "the first consumer's third delivery") {
				s.ack(ctx, env, d3, d4)
			}
		},
	)
	wantBrokerEmpty(t, f)
}

// checkIdle: Next returns ErrIdle when nothing arrives.
func checkIdle(t *testing.T, b Backend, _ Features) {
	s := newScene(t)
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) { s.idle(ctx, env, "an empty queue") },
	)
	wantBrokerEmpty(t, f)
}
