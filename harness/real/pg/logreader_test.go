package pg

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
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
	pgCommitted(t, st, func(ctx context.Context, tx strategies.Tx) error {
		return tx.AppendOutbox(ctx, history.Message{ID: "o1", Key: "k", Amount: 1, Kind: "OrderPlaced"})
	})
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
