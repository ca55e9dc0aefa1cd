package conformance

// Where the brokers differ: a repeated message id within the duplicate window, and redelivery
// after the ack wait.

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness/workload"
)

func init() {
	checks = append(checks,
		check{"broker-repeated-message-id", checkRepeatedID},
		check{"broker-unacked-delivery-of-a-live-consumer", checkLiveUnacked},
		check{"broker-exit-returns-after-the-ack-wait", checkExitAfterAckWait},
	)
}

// checkRepeatedID: a publish that repeats a confirmed message's id is confirmed too. With a
// dedup window the broker does not queue it again within the window, and queues it again after;
// without one every publish is queued.
func checkRepeatedID(t *testing.T, b Backend, feat Features) {
	s := newScene(t)
	var published atomic.Bool
	stored := 3 // rp-1 twice within the window, and once more past it
	if feat.DedupWindow > 0 {
		stored = 2 // the repeat within the window is dropped
	}
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if !s.publish(ctx, env, order("rp-1"), order("rp-1")) {
				return
			}
			// Past the window (twice over: a server forgets an id at its next purge).
			env.Clock.Sleep(ctx, 2*max(feat.DedupWindow, settle))
			if s.publish(ctx, env, order("rp-1")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			// The publisher sleeps past the window first, which may outlast await's wait.
			env.Clock.Sleep(ctx, 2*max(feat.DedupWindow, settle))
			if !s.await(ctx, env, &published, "the confirms") {
				return
			}
			for range stored {
				d, ok := s.expect(ctx, env, "rp-1", false)
				if !ok || !s.ack(ctx, env, d) {
					return
				}
			}
			s.idle(ctx, env, "every stored copy of rp-1 consumed")
		},
	)
	wantBrokerEmpty(t, f)
}

// checkLiveUnacked: a delivery its live consumer holds without an ack. With an ack wait the
// broker gives it to another consumer once the wait has run out, flagged redelivered; without
// one the other consumer gets nothing while the first holds it.
func checkLiveUnacked(t *testing.T, b Backend, feat Features) {
	s := newScene(t)
	var published, took, done atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("lu-1")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirm") {
				return
			}
			d, ok := s.expect(ctx, env, "lu-1", false)
			if !ok {
				return
			}
			took.Store(true)
			if !s.await(ctx, env, &done, "the other consumer") {
				return
			}
			if feat.AckWait == 0 {
				s.ack(ctx, env, d) // still this consumer's: the ack settles it
			}
		},
		func(ctx context.Context, env Env) {
			defer done.Store(true)
			if !s.await(ctx, env, &took, "the first consumer's delivery") {
				return
			}
			start := env.Clock.Now()
			if feat.AckWait == 0 {
				for range maxIdle {
					if !s.idle(ctx, env, "the only message is held by a live consumer") {
						return
					}
				}
				return
			}
			d, ok := s.expect(ctx, env, "lu-1", true)
			if !ok {
				return
			}
			if waited := env.Clock.Now().Sub(start); waited < feat.AckWait/2 {
				s.errorf(env, "lu-1 redelivered %v after the first consumer took it, before the ack wait %v", waited, feat.AckWait)
			}
			s.ack(ctx, env, d)
		},
	)
	wantBrokerEmpty(t, f)
}

// checkExitAfterAckWait: with an ack wait, what a consumer held when it exited does not come back
// at its exit but when the ack wait runs out. (Without one, broker-exit-requeues-unacked holds.)
func checkExitAfterAckWait(t *testing.T, b Backend, feat Features) {
	if feat.AckWait == 0 {
		t.Skip("the broker returns an exited consumer's deliveries at its exit (broker-exit-requeues-unacked)")
	}
	s := newScene(t)
	var published, took atomic.Bool
	f := b.Run(t, Setup{Workload: workload.Orders.Name, Prefetch: 1},
		func(ctx context.Context, env Env) {
			if s.publish(ctx, env, order("ew-1")) {
				published.Store(true)
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &published, "the confirm") {
				return
			}
			if _, ok := s.expect(ctx, env, "ew-1", false); ok {
				took.Store(true) // and exit with it unacknowledged
			}
		},
		func(ctx context.Context, env Env) {
			if !s.await(ctx, env, &took, "the first consumer's delivery") {
				return
			}
			start := env.Clock.Now()
			d, ok := s.expect(ctx, env, "ew-1", true)
			if !ok {
				return
			}
			if waited := env.Clock.Now().Sub(start); waited < feat.AckWait/2 {
				s.errorf(env, "ew-1 back %v after its consumer took it and exited, before the ack wait %v", waited, feat.AckWait)
			}
			s.ack(ctx, env, d)
		},
	)
	wantBrokerEmpty(t, f)
}
