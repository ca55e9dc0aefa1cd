package sim

import (
	"context"
	"fmt"
	"slices"

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
}

type bmsg struct {
	seq         int64
	msg         history.Message
	redelivered bool
}

type delivery struct {
	tag uint64
	m   *bmsg
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
	return n
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
	for _, d := range c.unacked {
		b.requeue(d.m, c.p.name, why+" ("+c.p.name+")")
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
		d := delivery{tag: b.nextTag, m: m}
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
	if !w.brokerOp(p) {
		if p.pubCh != nil {
			b.close(p.pubCh, "link down")
			p.pubCh = nil
		}
		return nil, fmt.Errorf("publish %s: %w", m.ID, strategies.ErrChannelClosed)
	}
	if p.pubCh == nil || !p.pubCh.open {
		p.pubCh = b.openChannel(p, false)
	}
	c := p.pubCh
	bm := &bmsg{seq: b.nextSeq, msg: m}
	b.nextSeq++
	b.ready = append(b.ready, bm)
	w.noteEvent(history.Event{Proc: "broker", Op: history.OpEnqueue, Msg: m.ID, Key: m.Key, From: p.name, Detail: "from " + p.name})
	w.at(p, fault.OpPublish, "")
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
	if !w.brokerOp(p) || !c.ch.open {
		return fmt.Errorf("confirm: %w", strategies.ErrChannelClosed)
	}
	if !c.lost {
		return nil
	}
	ch := c.ch
	p.block(func() bool { return !ch.open }, w.now+w.cfg.ConfirmTimeout)
	if !ch.open {
		return fmt.Errorf("confirm: %w", strategies.ErrChannelClosed)
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
	if !w.brokerOp(p) {
		if p.subCh != nil {
			b.close(p.subCh, "link down")
			p.subCh = nil
		}
		return strategies.Delivery{}, fmt.Errorf("consume: %w", strategies.ErrChannelClosed)
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
		return strategies.Delivery{}, fmt.Errorf("consume: %w", strategies.ErrChannelClosed)
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

// settle finds the delivery tag on p's live channel.
func (s subscription) settle(op string, tag uint64) (*channel, int, error) {
	p := s.p
	if p.unwinding {
		return nil, 0, errUnwinding
	}
	p.step()
	w := p.w
	if !w.brokerOp(p) {
		if p.subCh != nil {
			w.br.close(p.subCh, "link down")
			p.subCh = nil
		}
		return nil, 0, fmt.Errorf("%s: %w", op, strategies.ErrChannelClosed)
	}
	c := p.subCh
	if c == nil || !c.open {
		return nil, 0, fmt.Errorf("%s: delivery tag %d: %w", op, tag, strategies.ErrChannelClosed)
	}
	i := slices.IndexFunc(c.unacked, func(d delivery) bool { return d.tag == tag })
	if i < 0 {
		return nil, 0, fmt.Errorf("%s: unknown delivery tag %d: %w", op, tag, strategies.ErrChannelClosed)
	}
	return c, i, nil
}

func (s subscription) Ack(_ context.Context, tag uint64) error {
	c, i, err := s.settle("ack", tag)
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
	c, i, err := s.settle("nack", tag)
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
