package record

import (
	"context"
	"fmt"
	"time"

	"github.com/deliveryharness/harness/harness/history"
)

// The dedup window's store (strategies.Tx's WindowForget and WindowInsert), recorded as inbox
// statements: an insert under the unique key like the inbox's, and a forget only when it deleted
// something or failed, so that a consumer that forgets nothing adds nothing to the history.

func (t *recTx) WindowForget(ctx context.Context, consumer string, before time.Time) (int, error) {
	n, err := t.inner.WindowForget(ctx, consumer, before)
	if n > 0 || err != nil {
		t.recordForget(n, err)
	}
	return n, err
}

//go:noinline
func (t *recTx) recordForget(n int, err error) {
	d := fmt.Sprintf("dedup window: forgot %d id(s) seen before the window", n)
	if err != nil {
		d = detail(err)
	}
	t.r.addEvent(history.Event{Op: history.OpInbox, Outcome: outcome(err), Detail: d})
}

func (t *recTx) WindowInsert(ctx context.Context, consumer, msgID string, at time.Time) error {
	err := t.inner.WindowInsert(ctx, consumer, msgID, at)
	t.touch(msgID)
	d := "dedup window"
	if err != nil {
		d = detail(err)
	}
	t.r.add(history.OpInbox, msgID, "", outcome(err), d)
	return err
}
