package component

import (
	"context"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// The chain workload's downstream hop (Orders -> Payments -> Shipping): the consumer processes
// are the payment service, the middle of the chain; the harness owns the rest of it, which is
// correct by construction and outside the fault schedule: a relay (the outbox's) that publishes
// the payment service's own outbox to a second queue, and the shipping service, an inbox
// consumer that records what arrives.
const (
	ShipRelay     = "ship-relay" // the payment service's outbox relay
	Shipping      = "shipping"   // the downstream consumer process
	ShippingGroup = "shipping"   // its inbox's consumer name
)

// Emitter marks a consumer strategy written as a chain's middle service: it emits its
// downstream messages itself, through its store's AppendOutbox (the service's own outbox). The
// catalogue's consumers know nothing of a downstream: a chain run attaches the emission to the
// transaction of their effect (ChainStore).
type Emitter interface{ EmitsDownstream() }

// Emits reports whether a consumer emits its downstream messages itself.
func Emits(c strategies.Consumer) bool {
	_, ok := c.(Emitter)
	return ok
}

// ShipmentFor is the downstream message the middle service emits for m (workload.Output).
func ShipmentFor(m history.Message) history.Message {
	o := workload.Output(m.ID, m.Amount)
	return history.Message{ID: o.ID, Key: o.Key, Amount: o.Amount, Seq: o.Seq, Kind: o.Kind}
}

// ChainStore wraps a chain run's middle-service store (the recorded one, so that the emission is
// in the history as the consumer's outbox statement): every effect the transaction performs,
// through Apply, ApplyIdempotent or an ApplyVersioned that applied, is followed in the same
// transaction by the downstream message's row in the service's own outbox. A duplicate applied
// again emits again, the same message. The strategy's code is unchanged: whatever it does with
// the transaction (commit, roll back, die) it does to the emission too.
func ChainStore(s strategies.Store) strategies.Store { return chainStore{s} }

type chainStore struct{ inner strategies.Store }

func (s chainStore) Begin(ctx context.Context) (strategies.Tx, error) {
	tx, err := s.inner.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return chainTx{tx}, nil
}

type chainTx struct{ strategies.Tx }

func (t chainTx) emit(ctx context.Context, m history.Message) error {
	return t.Tx.AppendOutbox(ctx, ShipmentFor(m))
}

func (t chainTx) Apply(ctx context.Context, m history.Message) error {
	if err := t.Tx.Apply(ctx, m); err != nil {
		return err
	}
	return t.emit(ctx, m)
}

func (t chainTx) ApplyIdempotent(ctx context.Context, m history.Message) error {
	if err := t.Tx.ApplyIdempotent(ctx, m); err != nil {
		return err
	}
	return t.emit(ctx, m)
}

func (t chainTx) ApplyVersioned(ctx context.Context, m history.Message) (bool, error) {
	applied, err := t.Tx.ApplyVersioned(ctx, m)
	if err != nil || !applied {
		return applied, err
	}
	return true, t.emit(ctx, m)
}
