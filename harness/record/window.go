package record

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
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
	t.recordWindowInsert(msgID, err)
	return err
}

// recordWindowInsert records an insert into the window; one refused on the key is the window
// recognising a copy, the inbox's defence (history.GuardInbox).
//
//go:noinline
func (t *recTx) recordWindowInsert(msgID string, err error) {
	t.touch(msgID)
	e := history.Event{Op: history.OpInbox, Outcome: outcome(err), Msg: msgID, Detail: "dedup window"}
	if err != nil {
		e.Detail = detail(err)
	}
	if errors.Is(err, strategies.ErrDuplicateKey) {
		e.Detail, e.Guard = "seen within the window: "+e.Detail, history.GuardInbox
	}
	t.r.addEvent(e)
}
