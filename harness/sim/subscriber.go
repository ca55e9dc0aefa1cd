package sim

// The new-subscriber fault on the simulator: the consumers are a new service whose queue is bound
// mid-run, at the publisher's Nth publish; until then they do not exist, and what the broker
// stored before the binding never reaches them. Its first consumer catches up from the outbox
// (fault.CatchUp) before taking live deliveries.

import (
	"fmt"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// subscriber is the state of a run's new subscriber (new-subscriber).
type subscriber struct {
	bound bool // its queue is bound: the consumers run
}

// awaitSubscription makes consumer process p wait, under new-subscriber, until the new
// subscriber's queue is bound. If the publisher's Nth publish never comes, the subscriber comes
// once every event is published and the run is otherwise settled, with nothing in its queue.
// The wait is not idle: the run cannot end before the subscriber has come.
func (w *world) awaitSubscription(p *proc) {
	if w.sc.Fault != fault.NewSubscriber || w.sub.bound {
		return
	}
	p.block(func() bool { return w.sub.bound || w.publishedAll() }, 0)
	if !w.sub.bound {
		w.bindSubscriber(false, "after the last publish: the schedule's publish never came")
	}
}

// publishedAll reports whether the clients are done and every committed event has left the
// outbox (or the slot), with no fault in force.
func (w *world) publishedAll() bool {
	return w.producerDone && len(w.timers) == 0 && w.db.outstanding() == 0 && w.db.backlog() == 0 && w.db.open == 0
}

// feed is consumer process p's subscription: under new-subscriber, the first consumer's is the
// catch-up feed (the outbox's history, then the live queue) reading through its own store.
func (w *world) feed(p *proc, live strategies.Subscription, st strategies.Store) strategies.Subscription {
	if w.sc.Fault != fault.NewSubscriber || p.name != fault.ConsumerName(1) {
		return live
	}
	return fault.CatchUp(live, st, func(r strategies.OutboxRow) {
		w.noteEvent(history.Event{Proc: p.name, Op: fault.ReplayEvent, Msg: r.Msg.ID, Key: r.Msg.Key,
			Detail: fmt.Sprintf("outbox row %d, replayed", r.ID)})
	})
}

// bindQueue is new-subscriber's mechanism: the new subscriber's queue is bound as p's publish
// in progress goes out, so that message is the first it gets. A second new-subscriber fault of
// the schedule finds it bound and changes nothing.
func bindQueue(w *world, _ *proc, _ *history.Fault, _ string) {
	if !w.sub.bound {
		w.bindSubscriber(true, "as this publish goes out")
	}
}

// bindSubscriber binds the new subscriber's queue now: the messages the broker stored before
// are gone for it (they went to the services subscribed then), except, with keepLast, the one
// being published at this moment. Its consumers start.
func (w *world) bindSubscriber(keepLast bool, when string) {
	w.sub.bound = true
	b := w.br
	before, kept := b.ready, []*bmsg(nil)
	if keepLast && len(before) > 0 {
		before, kept = before[:len(before)-1], before[len(before)-1:]
	}
	ids := make([]string, len(before))
	for i, m := range before {
		ids[i] = m.msg.ID
	}
	b.ready = append([]*bmsg(nil), kept...)
	w.noteEvent(history.Event{Proc: "broker", Op: fault.SubscribeEvent, Msgs: ids,
		Detail: fmt.Sprintf("the new subscriber's queue is bound %s; %d message(s) published before never reach it", when, len(ids))})
}
