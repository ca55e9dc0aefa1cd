package pg

import (
	"context"
	"testing"

	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// TestOutstanding: the outbox work left is the committed rows neither marked published nor at or
// below a relay's cursor; an uncommitted cursor does not count.
func TestOutstanding(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	s := pgTestSchema(t, inf)
	st := pgTestStore(t, inf, s, "orders")
	var rows []strategies.OutboxRow
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		for _, id := range []string{"os-1", "os-2", "os-3", "os-4"} {
			if err := tx.AppendOutbox(ctx, pgOrder(id)); err != nil {
				return err
			}
		}
		var err error
		rows, err = tx.ReadOutboxAfter(ctx, 0, 10)
		return err
	})
	want := func(n int, why string) {
		t.Helper()
		if got, err := s.Outstanding(ctx); err != nil || got != n {
			t.Errorf("outstanding %s: %d, %v; want %d", why, got, err, n)
		}
	}
	want(4, "with no cursor and nothing marked")
	open := pgMustBegin(t, st)
	if err := open.SetRelayCursor(ctx, "offset", rows[1].ID); err != nil {
		t.Fatal(err)
	}
	want(4, "with the cursor written but not committed")
	if err := open.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want(2, "with the cursor at the second row")
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		claimed, err := tx.ClaimOutbox(ctx, 10)
		if err != nil {
			return err
		}
		return tx.MarkPublished(ctx, []int64{claimed[len(claimed)-1].ID})
	})
	want(1, "with the last row marked published")
	if n, err := s.Unpublished(ctx); err != nil || n != 3 {
		t.Errorf("unpublished: %d, %v; want 3 (cursors do not count there)", n, err)
	}
}
