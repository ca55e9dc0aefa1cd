package strategies

import (
	"context"
	"fmt"
	"time"
)

// RetryDelay is how long a consumer waits before handing back a delivery whose transaction
// failed, so that a database outage is not a hot loop of redeliveries.
var RetryDelay = 20 * time.Millisecond

// retryLater gives a delivery back to the broker after a failed attempt: the broker delivers it
// again, flagged redelivered. The cause is returned wrapped, for the history.
func retryLater(ctx context.Context, env ConsumerEnv, d Delivery, cause error) error {
	env.Clock.Sleep(ctx, RetryDelay)
	if err := env.Sub.Nack(ctx, d.Tag, true); err != nil {
		return fmt.Errorf("%w (nack: %v)", cause, err)
	}
	return cause
}

// rollbackAck ends a transaction that found a duplicate and acknowledges the delivery.
func rollbackAck(ctx context.Context, env ConsumerEnv, tx Tx, d Delivery) error {
	_ = tx.Rollback(ctx)
	return env.Sub.Ack(ctx, d.Tag)
}

// commitAndAck is the common tail: pass the point before the commit (the effect is done, the
// transaction is not), commit, pass the point after it, acknowledge.
func commitAndAck(ctx context.Context, env ConsumerEnv, tx Tx, d Delivery, name string) error {
	env.Faults.Point(ctx, PointConsumerBeforeCommit)
	if err := tx.Commit(ctx); err != nil {
		// Unknown outcome: hand the delivery back; whether that duplicates depends on the strategy.
		return retryLater(ctx, env, d, fmt.Errorf("%s: commit %s: %w", name, d.Msg.ID, err))
	}
	env.Faults.Point(ctx, PointConsumerAfterEffect)
	if err := env.Sub.Ack(ctx, d.Tag); err != nil {
		return fmt.Errorf("%s: ack %s: %w", name, d.Msg.ID, err)
	}
	return nil
}

// begin opens a transaction or hands the delivery back.
func begin(ctx context.Context, env ConsumerEnv, d Delivery, name string) (Tx, error) {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return nil, retryLater(ctx, env, d, fmt.Errorf("%s: begin: %w", name, err))
	}
	return tx, nil
}

// abort rolls back after a failed statement and hands the delivery back.
func abort(ctx context.Context, env ConsumerEnv, tx Tx, d Delivery, err error) error {
	_ = tx.Rollback(ctx)
	return retryLater(ctx, env, d, err)
}
