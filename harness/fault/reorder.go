package fault

import (
	"context"

	"github.com/deliveryharness/harness/strategies"
)

// Reordering wraps a consumer's subscription with the reorder fault's mechanism, the same on
// both backends: when fires says so for a delivery, the consumer waits for the next delivery
// (prefetch 2 or more lets the broker send it), hands the first back with a requeuing nack, and
// handles the second first. The broker redelivers the first, flagged redelivered, behind it. If
// nothing else arrives within the subscription's idle wait, the delivery is handled in order.
//
// It sits outside the recording wrapper, so the history shows both receives and the nack.
func Reordering(sub strategies.Subscription, fires func(ctx context.Context, d strategies.Delivery) bool) strategies.Subscription {
	return &reordering{inner: sub, fires: fires}
}

type reordering struct {
	inner strategies.Subscription
	fires func(context.Context, strategies.Delivery) bool
}

func (r *reordering) Next(ctx context.Context) (strategies.Delivery, error) {
	d, err := r.inner.Next(ctx)
	if err != nil || !r.fires(ctx, d) {
		return d, err
	}
	next, err := r.inner.Next(ctx)
	if err != nil {
		return d, nil // nothing to overtake it: handled in order
	}
	if err := r.inner.Nack(ctx, d.Tag, true); err != nil {
		// The channel died: the broker requeues both; the second is handled (and its ack fails).
		return next, nil
	}
	return next, nil
}

func (r *reordering) Ack(ctx context.Context, tag uint64) error { return r.inner.Ack(ctx, tag) }

func (r *reordering) Nack(ctx context.Context, tag uint64, requeue bool) error {
	return r.inner.Nack(ctx, tag, requeue)
}
