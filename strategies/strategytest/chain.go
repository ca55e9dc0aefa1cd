package strategytest

import (
	"context"
	"fmt"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// Middle services of the chain workload (Orders -> Payments -> Shipping) as teams write them:
// each emits its downstream message itself, through its store's AppendOutbox (the payment
// service's own outbox), and says so with EmitsDownstream (component.Emitter), so that the
// harness attaches no emission of its own. Each makes one mistake the harness must find.

// EmitFirst emits ShipmentRequested in a transaction of its own, committed before the payment's:
// "tell shipping, then charge". It de-duplicates with an inbox, in the payment's transaction.
// When the payment's transaction then fails (a crash before its COMMIT, a cut link), the
// downstream message is out for a payment that did not commit: a ghost message
// (no-ghost-message), even though the redelivered order is paid later.
type EmitFirst struct{ name string }

// NewEmitFirst returns an EmitFirst named name.
func NewEmitFirst(name string) *EmitFirst { return &EmitFirst{name: name} }

// Name implements strategies.Consumer.
func (e *EmitFirst) Name() string { return e.name }

// Doc implements strategies.Consumer.
func (*EmitFirst) Doc() string {
	return "a team's middle service: emits ShipmentRequested in its own transaction, then pays with an inbox"
}

// Points implements strategies.Consumer.
func (*EmitFirst) Points() []string {
	return []string{strategies.PointConsumerAfterReceive, strategies.PointConsumerBeforeCommit, strategies.PointConsumerAfterEffect}
}

// EmitsDownstream marks a middle service that emits its own downstream messages.
func (*EmitFirst) EmitsDownstream() {}

// Handle implements strategies.Consumer.
func (e *EmitFirst) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	env.Faults.Point(ctx, strategies.PointConsumerAfterReceive)
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return giveBack(ctx, env, d, err)
	}
	if err := tx.AppendOutbox(ctx, Shipment(d.Msg, d.Msg.ID)); err != nil {
		_ = tx.Rollback(ctx)
		return giveBack(ctx, env, d, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return giveBack(ctx, env, d, err)
	}
	if tx, err = env.Store.Begin(ctx); err != nil {
		return giveBack(ctx, env, d, err)
	}
	seen, err := tx.InboxContains(ctx, env.Group, d.Msg.ID)
	if err == nil && seen {
		_ = tx.Rollback(ctx)
		return env.Sub.Ack(ctx, d.Tag)
	}
	if err == nil {
		err = tx.InboxInsert(ctx, env.Group, d.Msg.ID)
	}
	if err == nil {
		err = tx.Apply(ctx, d.Msg)
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return giveBack(ctx, env, d, err)
	}
	env.Faults.Point(ctx, strategies.PointConsumerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return giveBack(ctx, env, d, err)
	}
	env.Faults.Point(ctx, strategies.PointConsumerAfterEffect)
	return env.Sub.Ack(ctx, d.Tag)
}

// FreshID pays and emits in one transaction, as it should, but names the downstream message
// after the time of processing ("ship-order-1-<ns>"), not after the order alone, and applies
// every delivery (no de-duplication). A duplicate it processes again emits a different message,
// which the shipping service's inbox cannot tell from a new one: it ships twice (same-output).
type FreshID struct{ name string }

// NewFreshID returns a FreshID named name.
func NewFreshID(name string) *FreshID { return &FreshID{name: name} }

// Name implements strategies.Consumer.
func (f *FreshID) Name() string { return f.name }

// Doc implements strategies.Consumer.
func (*FreshID) Doc() string {
	return "a team's middle service: pays and emits in one transaction, the downstream id taken from the clock"
}

// Points implements strategies.Consumer.
func (*FreshID) Points() []string {
	return []string{strategies.PointConsumerAfterReceive, strategies.PointConsumerBeforeCommit, strategies.PointConsumerAfterEffect}
}

// EmitsDownstream marks a middle service that emits its own downstream messages.
func (*FreshID) EmitsDownstream() {}

// Handle implements strategies.Consumer.
func (f *FreshID) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	env.Faults.Point(ctx, strategies.PointConsumerAfterReceive)
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return giveBack(ctx, env, d, err)
	}
	id := fmt.Sprintf("ship-%s-%d", d.Msg.ID, env.Clock.Now().UnixNano())
	if err := tx.Apply(ctx, d.Msg); err != nil {
		_ = tx.Rollback(ctx)
		return giveBack(ctx, env, d, err)
	}
	if err := tx.AppendOutbox(ctx, Shipment(d.Msg, id)); err != nil {
		_ = tx.Rollback(ctx)
		return giveBack(ctx, env, d, err)
	}
	env.Faults.Point(ctx, strategies.PointConsumerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return giveBack(ctx, env, d, err)
	}
	env.Faults.Point(ctx, strategies.PointConsumerAfterEffect)
	return env.Sub.Ack(ctx, d.Tag)
}

// InTx is the chain's middle service done right, as a team writes it: inbox record, payment and
// ShipmentRequested (workload.Output, derived from the order alone) in one transaction.
type InTx struct{ name string }

// NewInTx returns an InTx named name.
func NewInTx(name string) *InTx { return &InTx{name: name} }

// Name implements strategies.Consumer.
func (i *InTx) Name() string { return i.name }

// Doc implements strategies.Consumer.
func (*InTx) Doc() string {
	return "a team's middle service: inbox record, payment and ShipmentRequested in one transaction"
}

// Points implements strategies.Consumer.
func (*InTx) Points() []string {
	return []string{strategies.PointConsumerAfterReceive, strategies.PointConsumerBeforeCommit, strategies.PointConsumerAfterEffect}
}

// EmitsDownstream marks a middle service that emits its own downstream messages.
func (*InTx) EmitsDownstream() {}

// Handle implements strategies.Consumer.
func (i *InTx) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	env.Faults.Point(ctx, strategies.PointConsumerAfterReceive)
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return giveBack(ctx, env, d, err)
	}
	seen, err := tx.InboxContains(ctx, env.Group, d.Msg.ID)
	if err == nil && seen {
		_ = tx.Rollback(ctx)
		return env.Sub.Ack(ctx, d.Tag)
	}
	if err == nil {
		err = tx.InboxInsert(ctx, env.Group, d.Msg.ID)
	}
	if err == nil {
		err = tx.Apply(ctx, d.Msg)
	}
	if err == nil {
		err = tx.AppendOutbox(ctx, Shipment(d.Msg, ""))
	}
	if err != nil {
		_ = tx.Rollback(ctx)
		return giveBack(ctx, env, d, err)
	}
	env.Faults.Point(ctx, strategies.PointConsumerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		return giveBack(ctx, env, d, err)
	}
	env.Faults.Point(ctx, strategies.PointConsumerAfterEffect)
	return env.Sub.Ack(ctx, d.Tag)
}

// Shipment is the downstream message for m (workload.Output), under id when id is not empty.
func Shipment(m history.Message, id string) history.Message {
	o := workload.Output(m.ID, m.Amount)
	if id == "" {
		id = o.ID
	}
	return history.Message{ID: id, Key: o.Key, Amount: o.Amount, Seq: o.Seq, Kind: o.Kind}
}

// giveBack hands a delivery back to the broker after a failed step, as the catalogue's consumers
// do (a pause, then a requeue), and returns the cause.
func giveBack(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery, cause error) error {
	env.Clock.Sleep(ctx, strategies.RetryDelay)
	if err := env.Sub.Nack(ctx, d.Tag, true); err != nil {
		return fmt.Errorf("%w (nack: %v)", cause, err)
	}
	return cause
}

// RegisterChainServices registers the three middle services above as chain-emit-first,
// chain-fresh-id and chain-in-tx, for a test binary (and the real backend's workers, which are
// that binary) to run them.
func RegisterChainServices() error {
	for name, c := range map[string]func(string) strategies.Consumer{
		"chain-emit-first": func(n string) strategies.Consumer { return NewEmitFirst(n) },
		"chain-fresh-id":   func(n string) strategies.Consumer { return NewFreshID(n) },
		"chain-in-tx":      func(n string) strategies.Consumer { return NewInTx(n) },
	} {
		if err := strategies.RegisterConsumer(name, func() strategies.Consumer { return c(name) }); err != nil {
			return err
		}
	}
	return nil
}
