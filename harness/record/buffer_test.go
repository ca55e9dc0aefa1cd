package record_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// The fake port's send buffer: every put finds the id held.
func (p *port) BufferPut(context.Context, strategies.Message, time.Time, time.Duration) (bool, error) {
	return false, nil
}
func (p *port) ClaimBuffered(context.Context, time.Time, int) ([]strategies.OutboxRow, error) {
	return nil, nil
}

// TestBufferPutRecorded: a put the buffer drops is recorded as an outbox write that says so, and
// the rollback that follows is about its message.
func TestBufferPutRecorded(t *testing.T) {
	ctx := context.Background()
	l := &log{}
	tx, _ := record.Store(&port{}, l, "producer").Begin(ctx)
	m := strategies.Message{ID: "m-1", Key: "k"}
	if fresh, err := tx.BufferPut(ctx, m, time.Unix(0, 0), time.Second); fresh || err != nil {
		t.Fatalf("put: %v %v, want a dropped repeat", fresh, err)
	}
	_ = tx.Rollback(ctx)
	got := strings.Join(l.lines(), "\n")
	if !strings.Contains(got, "repeat dropped") || !strings.Contains(got, "rollback") || strings.Count(got, "m-1") != 2 {
		t.Errorf("history:\n%s", got)
	}
}
func (p *port) NextBuffered(context.Context) (time.Time, bool, error) { return time.Time{}, false, nil }
