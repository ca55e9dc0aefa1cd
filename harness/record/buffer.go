package record

import (
	"context"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// BufferPut records the put as an outbox write of m: "buffered" when it wrote the row, "repeat
// dropped" when the buffer held the id.
func (t *recTx) BufferPut(ctx context.Context, m strategies.Message, at time.Time, period time.Duration) (bool, error) {
	fresh, err := t.inner.BufferPut(ctx, m, at, period)
	t.recordBuffer(m, fresh, err)
	return fresh, err
}

//go:noinline
func (t *recTx) recordBuffer(m strategies.Message, fresh bool, err error) {
	t.touch(m.ID)
	e := history.Event{Op: history.OpOutbox, Outcome: outcome(err), Msg: m.ID, Key: m.Key, Detail: "send buffer: buffered"}
	switch {
	case err != nil:
		e.Detail = detail(err)
	case !fresh:
		e.Detail = "send buffer: held within its period, repeat dropped"
	}
	t.r.addEvent(e)
}

// ClaimBuffered records each row claimed, as ClaimOutbox does; an empty claim is not recorded.
func (t *recTx) ClaimBuffered(ctx context.Context, before time.Time, limit int) ([]strategies.OutboxRow, error) {
	rows, err := t.inner.ClaimBuffered(ctx, before, limit)
	if err != nil {
		t.r.add(history.OpClaim, "", "", history.Fail, detail(err))
		return rows, err
	}
	for _, row := range rows {
		t.touch(row.Msg.ID)
		t.r.add(history.OpClaim, row.Msg.ID, row.Msg.Key, history.OK, "")
	}
	return rows, nil
}

// NextBuffered is not recorded: it is about no message.
func (t *recTx) NextBuffered(ctx context.Context) (time.Time, bool, error) {
	return t.inner.NextBuffered(ctx)
}
