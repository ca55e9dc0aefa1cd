package pg

import (
	"context"
	"errors"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/real/realtest"
)

// TestLogReaderAdvanceOutwaitsTheWalsender: Advance returns only once the slot shows the
// position, also when its look at the slot comes before the walsender has taken the status
// update. The walsender is stopped (SIGSTOP) while Advance runs, so that the update waits in its
// socket: Advance must neither return at its first look nor give up, and must end once the
// walsender runs again. It needs to signal the server's processes (a local server, run as root
// or as the server's user) and skips where it cannot.
func TestLogReaderAdvanceOutwaitsTheWalsender(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	s := pgTestSchema(t, inf)
	slot := logTestSlot(t, inf, s)
	st := pgTestStore(t, inf, s, "orders")
	lr := logTestReader(t, inf, s, slot)
	logAppended(t, st, "o1")
	ids, end := logReadRows(t, lr, 1)
	if len(ids) != 1 || end == 0 {
		t.Fatalf("read %q (end %s), want o1", ids, formatLSN(end))
	}
	admin := realtest.AdminConn(t, inf)
	var pid int
	if err := admin.QueryRow(testCtx(t), `SELECT active_pid FROM pg_replication_slots WHERE slot_name = $1`, slot.Name).Scan(&pid); err != nil {
		t.Fatalf("the slot's walsender: %v", err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ESRCH) {
			t.Skipf("cannot stop the walsender (pid %d) from here: %v", pid, err)
		}
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("resume the walsender (pid %d): %v", pid, err)
			}
		}
	}
	t.Cleanup(resume)

	done := make(chan error, 1)
	go func() { done <- lr.Advance(context.Background(), end) }()
	select {
	case err := <-done:
		t.Fatalf("Advance returned (%v) while the walsender was stopped: the slot cannot have shown %s", err, formatLSN(end))
	case <-time.After(300 * time.Millisecond):
	}
	if at := slotConfirmed(t, admin, slot.Name); at >= end {
		t.Fatalf("the slot shows %s with its walsender stopped, want before %s", formatLSN(at), formatLSN(end))
	}
	resume()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Advance after the walsender ran again: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Advance did not return within 10 s of the walsender running again")
	}
	if at := slotConfirmed(t, admin, slot.Name); at < end {
		t.Errorf("Advance returned with the slot at %s, want %s or later", formatLSN(at), formatLSN(end))
	}
}

// TestLogReaderHold: a held reader (SetHold) keeps the oldest transaction in hand until its hold
// has passed or the batch is full, so that one committed meanwhile goes in the same batch; a
// reader without a hold hands out a transaction that came alone on a quiet stream at once.
func TestLogReaderHold(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	for _, tc := range []struct {
		name  string
		hold  time.Duration
		limit int
		want  []string
	}{
		{"no hold: the first at once", 0, 10, []string{"h1"}},
		{"held: the second goes with the first", 5 * time.Second, 10, []string{"h1", "h2"}},
		{"held: a full batch goes at once", time.Minute, 2, []string{"h1", "h2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := pgTestSchema(t, inf)
			slot := logTestSlot(t, inf, s)
			st := pgTestStore(t, inf, s, "orders")
			lr := logTestReader(t, inf, s, slot)
			lr.SetHold(tc.hold)
			if ids, _ := logRead(t, lr, tc.limit); len(ids) != 0 { // the stream is open
				t.Fatalf("read %q from an empty outbox", ids)
			}
			logAppended(t, st, "h1")
			type read struct {
				ids []string
				err error
			}
			got := make(chan read, 1)
			go func() { // the first batch with rows (a Read that waited its 50 ms for none is empty)
				ctx := testCtx(t)
				for {
					b, err := lr.Read(ctx, tc.limit)
					if err != nil || len(b.Rows) > 0 || ctx.Err() != nil {
						var ids []string
						for _, r := range b.Rows {
							ids = append(ids, r.Msg.ID)
						}
						got <- read{ids, err}
						return
					}
				}
			}()
			time.Sleep(time.Second)
			logAppended(t, st, "h2")
			select {
			case r := <-got:
				if r.err != nil {
					t.Fatalf("read: %v", r.err)
				}
				if !slices.Equal(r.ids, tc.want) {
					t.Errorf("read %q, want %q", r.ids, tc.want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("Read did not return within 20 s (hold %v, limit %d)", tc.hold, tc.limit)
			}
		})
	}
}
