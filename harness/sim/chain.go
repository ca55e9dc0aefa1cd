package sim

// The chain workload's downstream hop (component.ShipRelay, component.Shipping): the payment
// service's own outbox table, the second queue and the shipping service's shipments. The
// consumer processes are the payment service: their AppendOutbox goes to its outbox, in their
// transaction. The relay and the shipping consumer are the harness's, correct and outside the
// fault schedule: their queue is a plain durable FIFO with acks that no fault reaches, and their
// database operations pass no fault site that a schedule's target names.

import (
	"context"
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// chainDB is the payment service's outbox and the shipping service's rows.
type chainDB struct {
	outbox  []*chainRow // committed rows, id order
	nextID  int64
	shipped []history.Effect
	queue   []history.Message // the second queue's ready messages
	unacked map[uint64]history.Message
	nextTag uint64
}

type chainRow struct {
	id        int64
	msg       history.Message
	published bool
	lockedBy  *tx
}

// chainWrites are a transaction's private writes to the chain's tables.
type chainWrites struct {
	appended []*chainRow
	claimed  []*chainRow
	marked   []*chainRow
	shipped  []history.Effect
}

// chainRole is which service's tables a process's statements reach in a chain run.
type chainRole int

const (
	noChain  chainRole = iota
	middle             // the payment service: the consumers and the ship relay
	shipping           // the shipping service
)

func (p *proc) chainRole() chainRole {
	switch {
	case p.w.db.chain == nil:
		return noChain
	case p.name == component.Shipping:
		return shipping
	case p.name == component.ShipRelay || history.RoleOf(p.name) == history.RoleConsumer:
		return middle
	}
	return noChain
}

func (t *tx) chainWrites() *chainWrites {
	if t.chain == nil {
		t.chain = &chainWrites{}
	}
	return t.chain
}

// chainAppend inserts m into the payment service's outbox, private until commit.
func (t *tx) chainAppend(m history.Message) error {
	if err := t.enter(""); err != nil {
		return err
	}
	c := t.d.chain
	c.nextID++
	w := t.chainWrites()
	w.appended = append(w.appended, &chainRow{id: c.nextID, msg: m})
	return nil
}

// chainClaim locks up to limit unpublished committed rows, oldest first, skipping locked ones.
func (t *tx) chainClaim(limit int) ([]strategies.OutboxRow, error) {
	if err := t.enter(""); err != nil {
		return nil, err
	}
	w := t.chainWrites()
	var out []strategies.OutboxRow
	for _, r := range t.d.chain.outbox {
		if len(out) >= limit {
			break
		}
		if r.published || (r.lockedBy != nil && r.lockedBy != t) {
			continue
		}
		if r.lockedBy != t {
			r.lockedBy = t
			w.claimed = append(w.claimed, r)
		}
		out = append(out, strategies.OutboxRow{ID: r.id, Msg: r.msg})
	}
	return out, nil
}

func (t *tx) chainMark(ids []int64) error {
	if err := t.enter(""); err != nil {
		return err
	}
	w := t.chainWrites()
	for _, id := range ids {
		i := slices.IndexFunc(w.claimed, func(r *chainRow) bool { return r.id == id })
		if i < 0 {
			return t.fail(fmt.Errorf("mark %d: row not claimed by this transaction: %w", id, strategies.ErrTxAborted))
		}
		w.marked = append(w.marked, w.claimed[i])
	}
	return nil
}

// ship is the shipping service's effect: one shipment row per downstream message applied.
func (t *tx) ship(m history.Message) error {
	if err := t.enter(""); err != nil {
		return err
	}
	w := t.chainWrites()
	w.shipped = append(w.shipped, history.Effect{Msg: m.ID, Key: m.Key, Amount: m.Amount})
	return nil
}

// applyChain makes the chain writes visible with the rest of the transaction's (tx.apply).
func (t *tx) applyChain() {
	if t.chain == nil {
		return
	}
	c := t.d.chain
	for _, r := range t.chain.appended {
		i, _ := slices.BinarySearchFunc(c.outbox, r.id, func(x *chainRow, id int64) int { return int(x.id - id) })
		c.outbox = slices.Insert(c.outbox, i, r)
	}
	for _, r := range t.chain.marked {
		r.published = true
	}
	c.shipped = append(c.shipped, t.chain.shipped...)
}

// endChain releases the row locks the transaction's claims took (tx.end).
func (t *tx) endChain() {
	if t.chain == nil {
		return
	}
	for _, r := range t.chain.claimed {
		if r.lockedBy == t {
			r.lockedBy = nil
		}
	}
}

// chainBusy: the payment service's outbox or the second queue still holds work.
func (w *world) chainBusy() bool {
	c := w.db.chain
	if c == nil {
		return false
	}
	if len(c.queue) > 0 || len(c.unacked) > 0 {
		return true
	}
	return slices.ContainsFunc(c.outbox, func(r *chainRow) bool { return !r.published })
}

// finalChain adds the chain's final reads: the payment service's committed outbox rows and the
// shipments.
func (d *db) finalChain(f *history.Final) {
	if d.chain == nil {
		return
	}
	for _, r := range d.chain.outbox {
		f.Emitted = append(f.Emitted, history.Effect{Msg: r.msg.ID, Key: r.msg.Key, Amount: r.msg.Amount})
	}
	f.Shipped = slices.Clone(d.chain.shipped)
}

// chainProcs adds the downstream hop's processes to a chain run: the payment service's outbox
// relay and the shipping consumer, both the catalogue's correct strategies (outbox, inbox).
func (w *world) chainProcs() {
	if w.db.chain == nil {
		return
	}
	rp := &proc{w: w, name: component.ShipRelay}
	rp.body = func(ctx context.Context) {
		env := strategies.RelayEnv{
			Store:     record.Store(store{rp}, w, rp.name),
			Publisher: record.Publisher(shipPublisher{rp}, w, rp.name),
			Faults:    noFaults{},
			Clock:     clock{rp},
			Batch:     max(1, w.sc.Batch),
		}
		component.Relay(ctx, host{rp}, strategies.Outbox{}, env, ms(w.cfg.RelayPoll))
	}
	sp := &proc{w: w, name: component.Shipping}
	sp.body = func(ctx context.Context) {
		env := strategies.ConsumerEnv{
			Group:  component.ShippingGroup,
			Store:  record.Store(store{sp}, w, sp.name),
			Sub:    record.Subscription(shipSubscription{sp}, w, sp.name),
			Faults: noFaults{},
			Clock:  clock{sp},
		}
		component.Consumer(ctx, host{sp}, strategies.Inbox{}, env, ms(w.cfg.Reconnect))
	}
	w.procs = append(w.procs, rp, sp)
}

// newChainDB is the chain's tables, for a workload whose consumer emits; nil otherwise.
func newChainDB(name string) *chainDB {
	if w, _ := workload.Lookup(name); w.Downstream == "" {
		return nil
	}
	return &chainDB{unacked: map[uint64]history.Message{}}
}

// noFaults: the downstream hop passes no fault point.
type noFaults struct{}

func (noFaults) Point(context.Context, string) {}

// shipPublisher publishes to the second queue: stored at once, confirmed at once.
type shipPublisher struct{ p *proc }

func (s shipPublisher) Publish(_ context.Context, m history.Message) (strategies.Confirmation, error) {
	p := s.p
	p.step()
	c := p.w.db.chain
	c.queue = append(c.queue, m)
	p.w.noteEvent(history.Event{Proc: "broker", Op: history.OpEnqueue, Msg: m.ID, Key: m.Key, From: p.name, Detail: "from " + p.name + " to the shipping queue"})
	return confirmed{}, nil
}

type confirmed struct{}

func (confirmed) Wait(context.Context) error { return nil }

// shipSubscription is the shipping consumer's channel on the second queue (prefetch 1).
type shipSubscription struct{ p *proc }

func (s shipSubscription) Next(context.Context) (strategies.Delivery, error) {
	p := s.p
	p.step()
	c := p.w.db.chain
	if len(c.queue) == 0 {
		p.idleWait(func() bool { return len(c.queue) > 0 }, p.w.now+p.w.cfg.IdleWait)
	}
	if len(c.queue) == 0 {
		return strategies.Delivery{}, strategies.ErrIdle
	}
	m := c.queue[0]
	c.queue = c.queue[1:]
	c.nextTag++
	c.unacked[c.nextTag] = m
	p.w.noteEvent(history.Event{Proc: "broker", Op: history.OpDeliver, Msg: m.ID, Key: m.Key, To: p.name, Detail: "to " + p.name})
	return strategies.Delivery{Msg: m, Tag: c.nextTag}, nil
}

func (s shipSubscription) Ack(_ context.Context, tag uint64) error {
	s.p.step()
	delete(s.p.w.db.chain.unacked, tag)
	return nil
}

func (s shipSubscription) Nack(_ context.Context, tag uint64, requeue bool) error {
	s.p.step()
	c := s.p.w.db.chain
	m, ok := c.unacked[tag]
	delete(c.unacked, tag)
	if ok && requeue {
		c.queue = append([]history.Message{m}, c.queue...)
	}
	return nil
}

// chainStore is a consumer's store in a chain run: the payment service's, whose effects emit
// their downstream message in their transaction (component.ChainStore), unless the strategy
// emits its own (component.Emitter). Other runs keep s as it is.
func (w *world) chainStore(s strategies.Store, c strategies.Consumer) strategies.Store {
	if w.db.chain == nil || component.Emits(c) {
		return s
	}
	return component.ChainStore(s)
}
