package sim

import (
	"errors"
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// The simulated NATS JetStream broker: the queue, its channels and its dispatch are the RabbitMQ
// model's (broker.go); what differs is kept here, and broker.go asks for it only where b.nats is
// set (a scenario whose Broker is history.BrokerNATS):
//
//   - Publishing: the stream remembers each message id (the Nats-Msg-Id header) for its duplicate
//     window, strategies.Window of simulated time counted from the id's first store. A publish of
//     an id it still remembers is not stored again and is confirmed (the PubAck says Duplicate):
//     the history shows the drop as an enqueue turned away by GuardWindow.
//   - Redelivery: an unacknowledged delivery comes back, flagged redelivered, when its ack wait
//     (Config.AckWait from its delivery) runs out, whether its consumer is still connected or
//     not. A closed connection or a dead process returns nothing at once (RabbitMQ requeues then):
//     its unacknowledged deliveries wait out their ack wait (orphans). An ack (or a Term) that
//     comes after the ack wait still settles the message by its stream sequence, as the server
//     does: a redelivery not yet handed out is cancelled, and one already handed out is not
//     redelivered again (its own ack changes nothing).
//   - Nak (Nack with requeue) redelivers at once; Term (Nack without requeue) drops the message:
//     both as on RabbitMQ (broker.go).

// GuardWindow marks the enqueue of a publish the stream's duplicate window turned away.
const GuardWindow history.Guard = "duplicate-window"

// natsState is what a JetStream stream and its durable consumer hold beyond the queue.
type natsState struct {
	window  int64            // the duplicate window, simulated ms
	stored  map[string]int64 // message id -> when the window started remembering it
	orphans []orphan         // unacknowledged deliveries of closed channels, waiting out their ack wait
	expired map[uint64]*bmsg // delivery tag -> its message, for deliveries whose ack wait ran out
}

// errSettledLate: an ack or a nack of a delivery whose ack wait had run out (settleLate). The
// client sees no error.
var errSettledLate = errors.New("settled after the ack wait")

// orphan is an unacknowledged delivery whose channel closed: it comes back at due.
type orphan struct {
	d    delivery
	from string // the consumer that held it
}

func newNATS() *natsState {
	return &natsState{window: strategies.Window.Milliseconds(), stored: map[string]int64{}, expired: map[uint64]*bmsg{}}
}

// isNATS reports whether the broker is the JetStream model.
func (b *broker) isNATS() bool { return b.nats != nil }

// duplicate reports whether the stream's window still remembers id, so that a publish of it is
// dropped; when it does not, it starts remembering it now (the publish will be stored).
func (n *natsState) duplicate(id string, now int64) (bool, int64) {
	if n == nil {
		return false, 0
	}
	if first, ok := n.stored[id]; ok && now-first < n.window {
		return true, first
	}
	n.stored[id] = now
	return false, 0
}

// dropDuplicate records a publish of m from p that the window turned away.
func (b *broker) dropDuplicate(p *proc, m history.Message, first int64) {
	w := b.w
	w.noteEvent(history.Event{Proc: "broker", Op: history.OpEnqueue, Msg: m.ID, Key: m.Key, From: p.name, Guard: GuardWindow,
		Detail: fmt.Sprintf("from %s: Nats-Msg-Id %s stored %d ms ago, within the %d ms duplicate window: not stored again, confirmed as a duplicate", p.name, m.ID, w.now-first, b.nats.window)})
}

// orphan keeps c's unacknowledged deliveries for their ack wait: on JetStream a closed
// connection returns nothing at once.
func (b *broker) orphan(c *channel) {
	for _, d := range c.unacked {
		b.nats.orphans = append(b.nats.orphans, orphan{d: d, from: c.p.name})
	}
}

// due is when delivery d's ack wait runs out.
func (b *broker) due(d delivery) int64 { return d.at + b.w.cfg.AckWait }

// orphaned counts the deliveries waiting out their ack wait after their channel closed.
func (b *broker) orphaned() int {
	if b.nats == nil {
		return 0
	}
	return len(b.nats.orphans)
}

// expire redelivers every delivery whose ack wait has run out, on a live channel or orphaned, in
// delivery order; then dispatches. Nothing on RabbitMQ.
func (b *broker) expire() {
	if b.nats == nil {
		return
	}
	type late struct {
		d    delivery
		from string
	}
	var out []late
	now := b.w.now
	for _, c := range b.chans {
		if !slices.ContainsFunc(c.unacked, func(d delivery) bool { return b.due(d) <= now }) {
			continue
		}
		var keep []delivery
		for _, d := range c.unacked {
			if b.due(d) <= now {
				out = append(out, late{d, c.p.name})
			} else {
				keep = append(keep, d)
			}
		}
		c.unacked = keep
	}
	n := b.nats
	if slices.ContainsFunc(n.orphans, func(o orphan) bool { return b.due(o.d) <= now }) {
		var keep []orphan
		for _, o := range n.orphans {
			if b.due(o.d) <= now {
				out = append(out, late{o.d, o.from})
			} else {
				keep = append(keep, o)
			}
		}
		n.orphans = keep
	}
	if len(out) == 0 {
		return
	}
	slices.SortStableFunc(out, func(x, y late) int { return int(x.d.tag) - int(y.d.tag) })
	for _, l := range out {
		n.expired[l.d.tag] = l.d.m
		b.requeue(l.d.m, l.from, fmt.Sprintf("ack wait of %d ms ran out (delivered to %s at %d ms)", b.w.cfg.AckWait, l.from, l.d.at))
	}
	b.dispatch()
}

// nextDue is the earliest time an unacknowledged delivery's ack wait runs out.
func (b *broker) nextDue() (int64, bool) {
	if b.nats == nil {
		return 0, false
	}
	best, ok := int64(0), false
	consider := func(d delivery) {
		if t := b.due(d); !ok || t < best {
			best, ok = t, true
		}
	}
	for _, c := range b.chans {
		for _, d := range c.unacked {
			consider(d)
		}
	}
	for _, o := range b.nats.orphans {
		consider(o.d)
	}
	return best, ok
}

// settleLate settles, for p, a delivery no longer among its channel's unacknowledged ones on
// JetStream: its ack wait ran out before its Ack, Term (drop) or Nak reached the server. The
// server settles the message by its stream sequence: an Ack or a Term takes it out of the queue
// if its redelivery waits there, and out of the unacknowledged deliveries of whoever holds its
// redelivery; a Nak changes nothing, the message is on its way back already. A settle of a
// delivery whose message was settled already changes nothing. The client sees no error. It
// reports false on RabbitMQ, where an unknown delivery tag is a channel error.
func (b *broker) settleLate(p *proc, op string, tag uint64, drop bool) bool {
	if b.nats == nil {
		return false
	}
	m, ok := b.nats.expired[tag]
	delete(b.nats.expired, tag)
	what := "changes nothing: the message is on its way back already"
	switch {
	case !ok:
		what = "changes nothing: the message was settled already"
	case drop:
		what = "settles the message: it is not redelivered again"
		b.ready = slices.DeleteFunc(b.ready, func(x *bmsg) bool { return x == m })
		for _, c := range b.chans {
			c.unacked = slices.DeleteFunc(c.unacked, func(d delivery) bool { return d.m == m })
		}
		b.nats.orphans = slices.DeleteFunc(b.nats.orphans, func(o orphan) bool { return o.d.m == m })
	}
	e := history.Event{Proc: "broker", Op: op, From: p.name,
		Detail: fmt.Sprintf("%s of delivery %d from %s after its ack wait of %d ms ran out: %s", op, tag, p.name, b.w.cfg.AckWait, what)}
	if m != nil {
		e.Msg, e.Key = m.msg.ID, m.msg.Key
	}
	b.w.noteEvent(e)
	b.dispatch()
	return true
}
