package fault

import (
	"context"
	"fmt"

	"github.com/deliveryharness/harness/strategies"
)

// The new-subscriber fault's feed, the same on both backends. A new service (seed 001's "we need
// to republish old events") subscribes while events keep flowing: its queue holds only what is
// published after it was bound, so it catches up on what came before from the outbox, which keeps
// every committed event, published or not. CatchUp is that feed as the consumer strategy under
// test sees it: the outbox's history first, then the live queue, through one Subscription.

// SubscribeEvent is the operation of the history event a backend notes when the new subscriber's
// queue is bound (Proc "broker"; Msgs: the messages published before, which it never gets).
const SubscribeEvent = "subscribe"

// ReplayEvent is the operation of the history event a backend notes for each outbox row the new
// subscriber's feed hands out from its replay (Proc: the consumer; Msg: the row's message).
const ReplayEvent = "replay"

// CatchUpBatch is how many outbox rows one replay read takes.
const CatchUpBatch = 100

// replayTag marks the delivery tags of replayed rows: the broker's tags never reach it, so an Ack
// or Nack of a replayed row never goes to the broker.
const replayTag = uint64(1) << 63

// CatchUp returns the new subscriber's feed: Next first hands out the committed outbox rows read
// from store in id order (Tx.ReadOutboxAfter, CatchUpBatch a read, in a transaction of their own
// that writes nothing), each as a delivery that is not flagged redelivered, and once a read finds
// no row after the last one it hands out the live subscription's deliveries. Rows that commit
// after that read are published after the queue was bound, so the live queue brings them.
//
// A row that the replay read and that is published after the binding comes twice: from the
// replay and from the live queue. Nothing here tells the two apart; the consumer strategy must (an inbox, a
// natural key), or it applies the event twice.
//
// Ack of a replayed row moves nothing on the broker; Nack with requeue hands it out again next.
// The replay's position lives in the process: a new incarnation replays from the start.
//
// replayed, when set, is told each row as it is handed out: the backend notes a ReplayEvent, so
// that a timeline tells a replayed copy from a live one.
func CatchUp(live strategies.Subscription, store strategies.Store, replayed func(strategies.OutboxRow)) strategies.Subscription {
	return &catchUp{live: live, store: store, replayed: replayed}
}

type catchUp struct {
	live     strategies.Subscription
	store    strategies.Store
	after    int64 // the last outbox id read
	pending  []strategies.OutboxRow
	out      map[uint64]strategies.Message // replayed rows handed out and not yet acked, by tag
	done     bool                          // a read found nothing more: the live queue's turn
	replayed func(strategies.OutboxRow)
}

func (c *catchUp) Next(ctx context.Context) (strategies.Delivery, error) {
	if !c.done && len(c.pending) == 0 {
		rows, err := c.read(ctx)
		if err != nil {
			return strategies.Delivery{}, err
		}
		if len(rows) == 0 {
			c.done = true
		}
		c.pending = rows
	}
	if len(c.pending) == 0 {
		return c.live.Next(ctx)
	}
	r := c.pending[0]
	c.pending = c.pending[1:]
	tag := replayTag | uint64(r.ID)
	if c.out == nil {
		c.out = map[uint64]strategies.Message{}
	}
	c.out[tag] = r.Msg
	if c.replayed != nil {
		c.replayed(r)
	}
	return strategies.Delivery{Msg: r.Msg, Tag: tag}, nil
}

// read takes the next batch of committed rows after the last one read.
func (c *catchUp) read(ctx context.Context) ([]strategies.OutboxRow, error) {
	tx, err := c.store.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("catch-up: begin: %w", err)
	}
	rows, err := tx.ReadOutboxAfter(ctx, c.after, CatchUpBatch)
	_ = tx.Rollback(ctx) // a read: nothing to commit
	if err != nil {
		return nil, fmt.Errorf("catch-up: read the outbox after %d: %w", c.after, err)
	}
	if n := len(rows); n > 0 {
		c.after = rows[n-1].ID
	}
	return rows, nil
}

func (c *catchUp) Ack(ctx context.Context, tag uint64) error {
	if tag&replayTag != 0 {
		delete(c.out, tag)
		return nil
	}
	return c.live.Ack(ctx, tag)
}

func (c *catchUp) Nack(ctx context.Context, tag uint64, requeue bool) error {
	if tag&replayTag == 0 {
		return c.live.Nack(ctx, tag, requeue)
	}
	m, ok := c.out[tag]
	delete(c.out, tag)
	if requeue && ok {
		// Handed back: the same row comes next, as the broker would send it again.
		c.pending = append([]strategies.OutboxRow{{ID: int64(tag &^ replayTag), Msg: m}}, c.pending...)
	}
	return nil
}
