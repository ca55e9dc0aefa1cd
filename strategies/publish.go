package strategies

import (
	"context"
	"fmt"
	"time"
)

// PublishRetry is the retry policy of a publisher that waits for confirms: how many attempts and
// the first backoff, doubled after each failure. 4 attempts wait 10+20+40 = 70 ms in all.
var PublishRetry = struct {
	Attempts int
	Backoff  time.Duration
}{Attempts: 4, Backoff: 10 * time.Millisecond}

// publishConfirmed publishes m and waits for its confirm, retrying on a fresh channel when the
// confirm does not come. A retry after a lost confirm is exactly how a publisher duplicates a
// message: the first copy may be queued already.
func publishConfirmed(ctx context.Context, pub Publisher, clock Clock, m Message) error {
	backoff := PublishRetry.Backoff
	var last error
	for attempt := 1; attempt <= PublishRetry.Attempts; attempt++ {
		if attempt > 1 {
			clock.Sleep(ctx, backoff)
			backoff *= 2
		}
		conf, err := pub.Publish(ctx, m)
		if err != nil {
			last = err
			continue
		}
		if err := conf.Wait(ctx); err != nil {
			last = err
			continue
		}
		return nil
	}
	return fmt.Errorf("publish %s: gave up after %d attempts: %w", m.ID, PublishRetry.Attempts, last)
}
