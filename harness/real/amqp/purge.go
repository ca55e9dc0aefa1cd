package amqp

import (
	"context"
	"fmt"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/strategies"
)

// Purge removes every ready message from the queue and returns how many it removed. Deliveries a
// consumer holds unacknowledged are not ready and stay.
func (q *Queue) Purge(ctx context.Context) (int, error) {
	var n int
	err := q.withChannel(ctx, func(ch *amqp091.Channel) error {
		var err error
		if n, err = ch.QueuePurge(q.Name, false); err != nil {
			return fmt.Errorf("rabbitmq: purge %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	return n, err
}
