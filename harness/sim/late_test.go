package sim

import (
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// TestLateRedelivery: the target dies at its point and is back only fault.LateBy later, logical
// time having jumped; its copy is delivered after that, while crash-consumer's comes back at once.
func TestLateRedelivery(t *testing.T) {
	cases := []struct {
		name, prod, kind, target, point string
		wantDown                        int64 // the restart comes at least this long after the crash
	}{
		{"consumer, late", "double-write", fault.LateRedelivery, "consumer-1", strategies.PointConsumerAfterEffect, fault.LateBy.Milliseconds()},
		{"relay, late", "outbox", fault.LateRedelivery, "relay", strategies.PointRelayAfterPublish, fault.LateBy.Milliseconds()},
		{"consumer, crash", "double-write", fault.CrashConsumer, "consumer-1", strategies.PointConsumerAfterEffect, DefaultConfig().RestartDelay},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := run(t, scenario(tc.prod, "naive", "orders", testOrders(1),
				history.Fault{Kind: tc.kind, Target: tc.target, Point: tc.point, Nth: 1}))
			var crashed, restarted, lastDeliver int64 = -1, -1, -1
			for _, e := range h.Events {
				switch {
				case e.Op == history.OpCrash && e.Proc == tc.target:
					crashed = e.Time
				case e.Op == history.OpRestart && e.Proc == tc.target:
					restarted = e.Time
				case e.Op == history.OpDeliver:
					lastDeliver = e.Time
				}
			}
			if crashed < 0 || restarted < 0 {
				t.Fatalf("no crash and restart of %s", tc.target)
			}
			if down := restarted - crashed; down < tc.wantDown || down > tc.wantDown+10 {
				t.Errorf("down for %d ms, want %d", down, tc.wantDown)
			}
			if lastDeliver < restarted {
				t.Errorf("the copy was delivered at %d, before the restart at %d", lastDeliver, restarted)
			}
			if got := len(h.Final.Effects); got != 2 {
				t.Errorf("%d effects, want 2 (naive applies the copy)", got)
			}
		})
	}
}
