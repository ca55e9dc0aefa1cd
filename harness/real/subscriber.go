package real

// The new-subscriber fault on real servers: the consumers are a new service whose queue is bound
// mid-run, at the publisher's Nth publish. Until then no consumer process runs; at the binding the
// run's queue, which no one consumed, is purged (what was published before went to the services
// subscribed then, and is gone for the new one) and the consumers start, the first with the
// catch-up feed (fault.CatchUp). The publish in progress waits at its gate until that is done, so
// it is the first message the new queue holds, as on the simulator.

import (
	"context"
	"fmt"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/worker"
	"github.com/deliveryharness/harness/strategies"
)

// newSubscriber reports whether the run's consumers are a new subscriber that comes mid-run.
func (r *run) newSubscriber() bool { return r.sc.Fault == fault.NewSubscriber }

// catchesUp reports whether the named consumer replays the outbox before its live deliveries:
// the new subscriber's first consumer.
func (r *run) catchesUp(name string) bool {
	return r.newSubscriber() && name == fault.ConsumerName(1)
}

// bindQueue is new-subscriber's mechanism: the new subscriber's queue is bound before the
// publish at this gate goes out.
func bindQueue(ctx context.Context, r *run, _ *wproc, _ worker.Gate, _ *history.Fault) (bool, error) {
	return false, r.bindSubscriber(ctx, "as this publish goes out")
}

// bindSubscriber binds the new subscriber's queue now and starts its consumers. Once bound, it
// changes nothing: a second new-subscriber fault of the schedule finds it bound.
func (r *run) bindSubscriber(ctx context.Context, when string) error {
	if r.subscribed {
		return nil
	}
	r.subscribed = true
	n, err := r.queue.Purge(ctx)
	if err != nil {
		return fmt.Errorf("new-subscriber: %w", err)
	}
	r.noteEvent(history.Event{Proc: "broker", Op: fault.SubscribeEvent,
		Detail: fmt.Sprintf("the new subscriber's queue is bound %s; %d message(s) published before never reach it", when, n)})
	for i := 1; i <= max(1, r.sc.Consumers); i++ {
		if err := r.spawn(ctx, fault.ConsumerName(i)); err != nil {
			return fmt.Errorf("new-subscriber: %w", err)
		}
	}
	return nil
}

// subscribeLate binds the new subscriber's queue if the schedule's publish never came and every
// event is published: the subscriber then comes last. It reports whether it bound it now.
func (r *run) subscribeLate(ctx context.Context) (bool, error) {
	if !r.newSubscriber() || r.subscribed || !r.producerDone || len(r.timers) > 0 {
		return false, nil
	}
	n, err := r.outstanding(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	return true, r.bindSubscriber(ctx, "after the last publish: the schedule's publish never came")
}

// replayed is what the new subscriber's first consumer, named proc, notes for each outbox row
// its catch-up feed hands out: a ReplayEvent, as on the simulator.
func (w *workerRun) replayed(proc string) func(strategies.OutboxRow) {
	return func(r strategies.OutboxRow) {
		w.Add(history.Event{Time: w.Now(), Proc: proc, Op: fault.ReplayEvent, Msg: r.Msg.ID, Key: r.Msg.Key,
			Detail: fmt.Sprintf("outbox row %d, replayed", r.ID)})
	}
}
