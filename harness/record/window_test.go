package record_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// The minimal port's dedup window: it forgets one id and refuses every insert as a duplicate,
// like its InboxInsert.
func (p *port) WindowForget(context.Context, string, time.Time) (int, error) { return 1, nil }
func (p *port) WindowInsert(context.Context, string, string, time.Time) error {
	return fmt.Errorf("insert: %w", strategies.ErrDuplicateKey)
}

// forgetNothing is a port whose dedup window has nothing to forget and takes every insert.
type forgetNothing struct{ port }

func (forgetNothing) WindowForget(context.Context, string, time.Time) (int, error) { return 0, nil }
func (forgetNothing) WindowInsert(context.Context, string, string, time.Time) error {
	return nil
}
func (f *forgetNothing) Begin(context.Context) (strategies.Tx, error) { return f, nil }

// TestWindow: the dedup window's statements are inbox statements in the history: an insert
// refused on the key fails like the inbox's, a forget that deleted ids says how many, and one
// that deleted nothing leaves no trace.
func TestWindow(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(10, 0)
	cases := []struct {
		name string
		s    strategies.Store
		want []string
	}{
		{"forgets one, refuses the copy", &port{}, []string{
			"p inbox -> ok (dedup window: forgot 1 id(s) seen before the window)",
			"p inbox m-1 -> fail (seen within the window: insert: strategies: duplicate key)",
			"p rollback m-1 -> ok"}},
		{"forgets nothing, records the id", &forgetNothing{}, []string{
			"p inbox m-1 -> ok (dedup window)",
			"p rollback m-1 -> ok"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := &log{}
			tx, _ := record.Store(tc.s, l, "p").Begin(ctx)
			_, _ = tx.WindowForget(ctx, "g", now.Add(-strategies.Window))
			_ = tx.WindowInsert(ctx, "g", "m-1", now)
			_ = tx.Rollback(ctx)
			if got, want := strings.Join(l.lines(), "\n"), strings.Join(tc.want, "\n"); got != want {
				t.Errorf("got:\n%s\nwant:\n%s", got, want)
			}
			for _, e := range l.events {
				if refused := e.Outcome == history.Fail && e.Op == history.OpInbox; refused != (e.Guard == history.GuardInbox) {
					t.Errorf("%s: guard %q", e, e.Guard)
				}
			}
		})
	}
}
