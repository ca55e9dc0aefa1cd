package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// broker is a durable RabbitMQ queue with its channels: messages survive an outage; a channel's
// unacknowledged deliveries go back to their original place in the queue, flagged redelivered,
// when the channel closes or nacks them; ready messages are pushed round-robin to consumers with
// free prefetch.
type broker struct {
	w       *world
	ready   []*bmsg // ordered by seq
	chans   []*channel
	rr      int // round-robin cursor over consumer channels
	nextSeq int64
	nextTag uint64
	nextCh  int
	nats    *natsState // the JetStream model (nats.go); nil on RabbitMQ
}

type bmsg struct {
	seq         int64
	msg         history.Message
	redelivered bool
}

type delivery struct {
	tag uint64
	m   *bmsg
	at  int64 // when the broker handed it out
}

type channel struct {
	id       int
	p        *proc
	open     bool
	consumer bool
	prefetch int
	unacked  []delivery // in delivery order
	buffer   []delivery // pushed to the client, not yet taken by Next
	stalled  bool       // a confirm was lost: the link swallows every later one too
}

func (b *broker) unacked() int {
	n := 0
	for _, c := range b.chans {
		n += len(c.unacked)
	}
	return n + b.orphaned()
}

func (b *broker) openChannel(p *proc, consumer bool) *channel {
	b.nextCh++
	c := &channel{id: b.nextCh, p: p, open: true, consumer: consumer, prefetch: max(1, b.w.sc.Prefetch)}
	b.chans = append(b.chans, c)
	return c
}

// requeue puts m back at its original position, flagged redelivered; from is the consumer that
// held it, detail says why.
func (b *broker) requeue(m *bmsg, from, detail string) {
	m.redelivered = true
	i, _ := slices.BinarySearchFunc(b.ready, m.seq, func(x *bmsg, seq int64) int {
		switch {
		case x.seq < seq:
			return -1
		case x.seq > seq:
			return 1
		}
		return 0
	})
	b.ready = slices.Insert(b.ready, i, m)
	b.w.noteEvent(history.Event{Proc: "broker", Op: history.OpRequeue, Msg: m.msg.ID, Key: m.msg.Key, From: from, Detail: detail})
}

// close closes a channel: its unacked deliveries are requeued.
func (b *broker) close(c *channel, why string) {
	if !c.open {
		return
	}
	c.open = false
	if b.isNATS() {
		b.orphan(c) // JetStream: back when their ack wait runs out
	} else {
		for _, d := range c.unacked {
			b.requeue(d.m, c.p.name, why+" ("+c.p.name+")")
		}
	}
	c.unacked, c.buffer = nil, nil
	b.chans = slices.DeleteFunc(b.chans, func(x *channel) bool { return x == c })
	b.dispatch()
}

// closeProc closes every channel of p.
func (b *broker) closeProc(p *proc, why string) {
	for _, c := range slices.Clone(b.chans) {
		if c.p == p {
			b.close(c, why)
		}
	}
}

// closeAll closes every channel.
func (b *broker) closeAll(why string) {
	for _, c := range slices.Clone(b.chans) {
		b.close(c, why)
	}
}

// dispatch pushes ready messages to consumers with free prefetch, round-robin.
func (b *broker) dispatch() {
	for len(b.ready) > 0 {
		var target *channel
		var consumers []*channel
		for _, c := range b.chans {
			if c.consumer {
				consumers = append(consumers, c)
			}
		}
		for i := range consumers {
			c := consumers[(b.rr+i)%len(consumers)]
			if len(c.unacked) < c.prefetch {
				target = c
				b.rr = (b.rr + i + 1) % len(consumers)
				break
			}
		}
		if target == nil {
			return
		}
		m := b.ready[0]
		b.ready = b.ready[1:]
		b.nextTag++
		d := delivery{tag: b.nextTag, m: m, at: b.w.now}
		target.unacked = append(target.unacked, d)
		target.buffer = append(target.buffer, d)
		detail := "to " + target.p.name
		if m.redelivered {
			detail += ", redelivered"
		}
		b.w.noteEvent(history.Event{Proc: "broker", Op: history.OpDeliver, Msg: m.msg.ID, Key: m.msg.Key, To: target.p.name, Redelivered: m.redelivered, Detail: detail})
	}
}

// publisher is a process's strategies.Publisher.
type publisher struct{ p *proc }

func (pub publisher) Publish(_ context.Context, m history.Message) (strategies.Confirmation, error) {
	p := pub.p
	if p.unwinding {
		return nil, errUnwinding
	}
	p.step()
	w, b := p.w, p.w.br
	if w.brokerUp(p) && (p.pubCh == nil || !p.pubCh.open) {
		p.pubCh = b.openChannel(p, false) // the connection is open before the publish goes out
	}
	c, wasUp := p.pubCh, w.brokerUp(p)
	if !w.brokerOp(p, fault.SitePublish) {
		if p.pubCh != nil {
			b.close(p.pubCh, "link down")
			p.pubCh = nil
		}
		if c != nil && wasUp {
			// The link died under this publish: the client wrote it into the dead connection
			// and saw no error; the broker never gets it, and no confirm will come.
			w.noteEvent(history.Event{Proc: "harness", Op: history.OpPublish, Msg: m.ID, Key: m.Key, Outcome: history.Unknown, Detail: "basic.publish from " + p.name + " written into a link that died under it: lost, and the client saw no error"})
			return &confirmation{p: p, ch: c}, nil
		}
		return nil, fmt.Errorf("publish %s: %w", m.ID, strategies.ErrChannelClosed)
	}
	if dup, first := b.nats.duplicate(m.ID, w.now); dup {
		b.dropDuplicate(p, m, first)
	} else {
		bm := &bmsg{seq: b.nextSeq, msg: m}
		b.nextSeq++
		b.ready = append(b.ready, bm)
		if w.enqueued != nil {
			w.enqueued[m.ID]++
		}
		w.noteEvent(history.Event{Proc: "broker", Op: history.OpEnqueue, Msg: m.ID, Key: m.Key, From: p.name, Detail: "from " + p.name})
	}
	w.at(p, fault.OpPublish, "")
	// The confirm on its way back crosses the link: a cut now loses it with the connection.
	w.brokerOp(p, fault.SiteConfirm)
	if p.takeReplyWithheld() || w.slow[link{p.name, fault.LinkBroker}] {
		// A lost confirm, or one that a slow link delivers after the publisher's timeout.
		c.stalled = true
	}
	conf := &confirmation{p: p, ch: c, lost: c.stalled}
	b.dispatch()
	return conf, nil
}

// confirmation is a pending confirm: it arrives if the channel is still open when the publisher
// waits for it, unless the link swallowed it.
type confirmation struct {
	p    *proc
	ch   *channel
	lost bool
}

func (c *confirmation) Wait(context.Context) error {
	p := c.p
	if p.unwinding {
		return errUnwinding
	}
	p.step()
	w := p.w
	if !c.ch.open {
		// The connection died before the confirm arrived (a cut at the publish or at its
		// confirm, an outage, a channel closed by the broker).
		return errConfirmClosed
	}
	if !c.lost {
		return nil
	}
	ch := c.ch
	p.block(func() bool { return !ch.open }, w.now+w.cfg.ConfirmTimeout)
	if !ch.open {
		return errConfirmClosed
	}
	// The publisher gives up on this connection and will publish again on a new one.
	w.br.close(ch, "publisher abandoned a stalled connection")
	if p.pubCh == ch {
		p.pubCh = nil
	}
	return fmt.Errorf("confirm: none within %dms: %w", w.cfg.ConfirmTimeout, strategies.ErrNoConfirm)
}

// subscription is a consumer process's strategies.Subscription.
type subscription struct{ p *proc }

func (s subscription) Next(context.Context) (strategies.Delivery, error) {
	p := s.p
	if p.unwinding {
		return strategies.Delivery{}, errUnwinding
	}
	p.step()
	w, b := p.w, p.w.br
	if !w.brokerOp(p, fault.SiteDeliver) {
		if p.subCh != nil {
			b.close(p.subCh, "link down")
			p.subCh = nil
		}
		return strategies.Delivery{}, errConsumeClosed
	}
	if p.subCh == nil || !p.subCh.open {
		p.subCh = b.openChannel(p, true)
		b.dispatch()
	}
	c := p.subCh
	if len(c.buffer) == 0 {
		p.idleWait(func() bool { return len(c.buffer) > 0 || !c.open }, w.now+w.cfg.IdleWait)
	}
	if len(c.buffer) > 0 && w.slow[link{p.name, fault.LinkBroker}] {
		p.sleep(w.cfg.SlowLink) // the delivery crosses a slow link
	}
	if !c.open {
		if p.subCh == c {
			p.subCh = nil
		}
		return strategies.Delivery{}, errConsumeClosed
	}
	if len(c.buffer) == 0 {
		return strategies.Delivery{}, strategies.ErrIdle
	}
	d := c.buffer[0]
	c.buffer = c.buffer[1:]
	out := strategies.Delivery{Msg: d.m.msg, Tag: d.tag, Redelivered: d.m.redelivered}
	w.at(p, fault.OpReceive, "") // concurrent-consumers drops the connection under this delivery
	return out, nil
}

// The errors a closed channel gives a confirm wait and a consume, made once: a consumer whose
// link is down asks again every few steps.
var (
	errConfirmClosed = fmt.Errorf("confirm: %w", strategies.ErrChannelClosed)
	errConsumeClosed = fmt.Errorf("consume: %w", strategies.ErrChannelClosed)
)

// errWrittenIntoCut: an ack or a nack was written into a link that died under it. The client
// sees no error; the broker never gets it.
var errWrittenIntoCut = errors.New("written into a dead link")

// settle finds the delivery tag on p's live channel; site is the operation's (fault.SiteAck,
// SiteNack), drop whether it settles the message for good (an ack, a nack without requeue).
func (s subscription) settle(site string, tag uint64, drop bool) (*channel, int, error) {
	p := s.p
	if p.unwinding {
		return nil, 0, errUnwinding
	}
	p.step()
	w := p.w
	op := strings.TrimPrefix(site, "amqp.")
	c := p.subCh
	wasUp := w.brokerUp(p) && c != nil && c.open
	if !w.brokerOp(p, site) {
		if p.subCh != nil {
			w.br.close(p.subCh, "link down")
			p.subCh = nil
		}
		if wasUp {
			w.noteEvent(history.Event{Proc: "harness", Op: op, Outcome: history.Unknown, Detail: fmt.Sprintf("basic.%s tag %d from %s written into a link that died under it: lost, and the client saw no error", op, tag, p.name)})
			return nil, 0, errWrittenIntoCut
		}
		return nil, 0, fmt.Errorf("%s: %w", op, strategies.ErrChannelClosed)
	}
	if c == nil || !c.open {
		return nil, 0, fmt.Errorf("%s: delivery tag %d: %w", op, tag, strategies.ErrChannelClosed)
	}
	i := slices.IndexFunc(c.unacked, func(d delivery) bool { return d.tag == tag })
	if i < 0 && w.br.settleLate(p, op, tag, drop) {
		return nil, 0, errSettledLate
	}
	if i < 0 {
		return nil, 0, fmt.Errorf("%s: unknown delivery tag %d: %w", op, tag, strategies.ErrChannelClosed)
	}
	return c, i, nil
}

func (s subscription) Ack(_ context.Context, tag uint64) error {
	c, i, err := s.settle(fault.SiteAck, tag, true)
	if errors.Is(err, errWrittenIntoCut) || errors.Is(err, errSettledLate) {
		return nil // the client wrote the ack and saw no error; the broker requeues the delivery
	}
	if err != nil {
		return err
	}
	p, b := s.p, s.p.w.br
	if p.w.at(p, fault.OpAck, ""); !c.open {
		// The ack was written to a connection that reset (lost-ack): the client saw no error.
		return nil
	}
	c.unacked = slices.Delete(c.unacked, i, i+1)
	b.dispatch()
	return nil
}

func (s subscription) Nack(_ context.Context, tag uint64, requeue bool) error {
	c, i, err := s.settle(fault.SiteNack, tag, !requeue)
	if errors.Is(err, errWrittenIntoCut) || errors.Is(err, errSettledLate) {
		return nil // lost on the dead link; the broker requeues the delivery as it closes the channel
	}
	if err != nil {
		return err
	}
	b := s.p.w.br
	d := c.unacked[i]
	c.unacked = slices.Delete(c.unacked, i, i+1)
	if requeue {
		b.requeue(d.m, s.p.name, "nacked by "+s.p.name)
	}
	b.dispatch()
	return nil
}
