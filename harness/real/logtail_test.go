package real

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// The log-tailing producer on the backend

// TestLogTailingRelayCrashRepublishes: a tailer killed between publishing and advancing the slot
// publishes the same message again from its next process, and the inbox holds: its key refuses
// the copy, one effect.
func TestLogTailingRelayCrashRepublishes(t *testing.T) {
	inf := realtest.Require(t)
	realtest.RequireLogicalWAL(t, inf)
	t.Parallel()
	cmds := []history.Message{
		{ID: "order-1", Key: "order-1", Amount: 10, Seq: 1, Kind: "OrderPlaced"},
		{ID: "order-2", Key: "order-2", Amount: 20, Seq: 1, Kind: "OrderPlaced"},
	}
	sc := history.Scenario{Producer: "log-tailing", Consumer: "inbox", Workload: "orders", Fault: fault.CrashRelay, Seed: 1,
		Commands: cmds, Consumers: 1, Prefetch: 1, Batch: 1,
		Faults: []history.Fault{{Kind: fault.CrashRelay, Target: "relay", Point: strategies.PointRelayAfterPublish, Nth: 1}}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	h, err := NewBackend(inf).Run(ctx, sc, strategies.LogTailing{}, strategies.Inbox{})
	if err != nil {
		t.Fatal(err)
	}
	published := map[string]int{}
	var crashed, seen bool
	for _, e := range h.Events {
		switch {
		case e.Proc == "relay" && e.Op == history.OpPublish && e.Outcome == history.OK:
			published[e.Msg]++
		case e.Proc == "relay" && e.Op == history.OpCrash:
			crashed = true
		case e.Op == history.OpInbox && e.Outcome == history.Fail && strings.Contains(e.Detail, "duplicate key"):
			seen = true // the inbox's key refused the copy
		}
	}
	var twice []string
	for id, n := range published {
		if n >= 2 {
			twice = append(twice, id)
		}
	}
	if !crashed || len(twice) == 0 || !seen {
		t.Errorf("crashed %v, published %v, inbox saw a copy %v: want a crash, a message published twice and the inbox catching it", crashed, published, seen)
	}
	if len(h.Final.Effects) != len(cmds) || len(h.Final.Committed) != len(cmds) || !h.Quiesced {
		t.Errorf("%d effects, %d committed, quiesced %v: want %d and %d, quiesced", len(h.Final.Effects), len(h.Final.Committed), h.Quiesced, len(cmds), len(cmds))
	}
	if t.Failed() {
		for _, e := range h.Events {
			t.Logf("%6d %-10s %-8s %-7s %-8s %s", e.Time, e.Proc, e.Op, e.Outcome, e.Msg, e.Detail)
		}
	}
}

// TestLogTailingInterruptedRunDropsSlot: a run whose context ends mid-way (an interrupt) still
// drops its slot. Not parallel: the slots this process creates meanwhile are the run's.
func TestLogTailingInterruptedRunDropsSlot(t *testing.T) {
	inf := realtest.Require(t)
	realtest.RequireLogicalWAL(t, inf)
	before := pg.CreatedSlots()
	sc := history.Scenario{Producer: "log-tailing", Consumer: "inbox", Workload: "orders", Fault: fault.BrokerDown, Seed: 1,
		Commands:  []history.Message{{ID: "order-1", Key: "order-1", Amount: 10, Seq: 1, Kind: "OrderPlaced"}},
		Consumers: 1, Prefetch: 1, Batch: 1, Faults: []history.Fault{{Kind: fault.BrokerDown, Nth: 1, Duration: 20_000}}}
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	_, err := NewBackend(inf).Run(ctx, sc, strategies.LogTailing{}, strategies.Inbox{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the interrupt", err)
	}
	admin := realtest.AdminConn(t, inf)
	var made int
	for name := range pg.CreatedSlots() {
		if _, ok := before[name]; ok {
			continue
		}
		made++
		if realtest.SlotExists(t, admin, name) {
			t.Errorf("slot %s is still there after the interrupted run", name)
		}
	}
	if made != 1 {
		t.Errorf("the run made %d slots, want 1", made)
	}
}

// TestLogTailingNeedsLogicalWAL: a server without wal_level=logical gives infra.ErrNoLogicalWAL from a
// log-tailing run. It runs only where the server is not logical (it skips otherwise).
func TestLogTailingNeedsLogicalWAL(t *testing.T) {
	inf := realtest.Require(t)
	if realtest.WALLevel(t, inf) == "logical" {
		t.Skip("the server has wal_level=logical")
	}
	sc := history.Scenario{Producer: "log-tailing", Consumer: "inbox", Workload: "orders", Fault: "none", Seed: 1,
		Commands: []history.Message{{ID: "order-1", Key: "order-1", Amount: 1}}, Consumers: 1, Prefetch: 1, Batch: 1}
	_, err := NewBackend(inf).Run(testCtx(t), sc, strategies.LogTailing{}, strategies.Inbox{})
	if !errors.Is(err, infra.ErrNoLogicalWAL) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v, want infra.ErrNoLogicalWAL on one line", err)
	}
	t.Log(err)
}
