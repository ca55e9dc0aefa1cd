package sim

import (
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// effectsOf counts the effect rows of each message.
func effectsOf(h *history.History) map[string]int {
	n := map[string]int{}
	for _, e := range h.Final.Effects {
		n[e.Msg]++
	}
	return n
}

// subscribeEvents are the history's bindings of the new subscriber's queue.
func subscribeEvents(h *history.History) []history.Event {
	var out []history.Event
	for _, e := range h.Events {
		if e.Op == fault.SubscribeEvent {
			out = append(out, e)
		}
	}
	return out
}

// TestNewSubscriberCatchesUp: the queue is bound at the relay's second publish, so order-1 never
// reaches it; the first consumer replays every committed outbox row, then takes the live
// deliveries. The inbox applies each order once; naive applies the row at the binding twice, once
// replayed and once live; double-write, with no outbox to replay, loses order-1. No consumer runs
// before the binding.
func TestNewSubscriberCatchesUp(t *testing.T) {
	at := func(target string, nth int) history.Fault {
		return history.Fault{Kind: fault.NewSubscriber, Target: target, Nth: nth}
	}
	cases := []struct {
		prod, cons string
		faults     []history.Fault
		behind     []string       // published before the binding
		want       map[string]int // effect rows by message
	}{
		{"outbox", "inbox", []history.Fault{at("relay", 2)}, []string{"order-1"}, map[string]int{"order-1": 1, "order-2": 1, "order-3": 1}},
		{"outbox", "naive", []history.Fault{at("relay", 3)}, []string{"order-1", "order-2"}, map[string]int{"order-1": 1, "order-2": 1, "order-3": 2}},
		{"double-write", "inbox", []history.Fault{at("producer", 2)}, []string{"order-1"}, map[string]int{"order-2": 1, "order-3": 1}},
		// A second fault of the kind finds the queue bound and changes nothing.
		{"outbox", "inbox", []history.Fault{at("relay", 2), at("relay", 2)}, []string{"order-1"}, map[string]int{"order-1": 1, "order-2": 1, "order-3": 1}},
	}
	for _, tc := range cases {
		t.Run(tc.prod+"/"+tc.cons, func(t *testing.T) {
			h := run(t, scenario(tc.prod, tc.cons, "orders", testOrders(3), tc.faults...))
			got := effectsOf(h)
			for id, n := range tc.want {
				if got[id] != n {
					t.Errorf("%s: %d effect rows, want %d (all: %v)", id, got[id], n, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("effects %v, want %v", got, tc.want)
			}
			subs := subscribeEvents(h)
			if len(subs) != 1 || !slices.Equal(subs[0].Msgs, tc.behind) {
				t.Fatalf("bindings %v, want one that leaves %q behind", subs, tc.behind)
			}
			for _, e := range h.Events {
				if e.Op == fault.SubscribeEvent {
					break
				}
				if history.RoleOf(e.Proc) == history.RoleConsumer {
					t.Fatalf("%s before the new subscriber's queue was bound", e)
				}
			}
		})
	}
}

// TestNewSubscriberComesLast: when the schedule's publish never comes, the subscriber comes once
// everything is published; nothing is in its queue, and it replays every row.
func TestNewSubscriberComesLast(t *testing.T) {
	sc := scenario("outbox", "inbox", "orders", testOrders(2), history.Fault{Kind: fault.NewSubscriber, Target: "relay", Nth: 9})
	h, err := Run(sc, strategies.Outbox{}, strategies.Inbox{}, DefaultConfig())
	if err != nil {
		logEvents(t, h)
		t.Fatal(err)
	}
	if !h.Quiesced || h.Final.Ready != 0 || h.Final.Unacked != 0 {
		t.Errorf("quiesced %v with %d ready and %d unacked, want a settled run with an empty queue", h.Quiesced, h.Final.Ready, h.Final.Unacked)
	}
	subs := subscribeEvents(h)
	if len(subs) != 1 || !slices.Equal(subs[0].Msgs, []string{"order-1", "order-2"}) {
		t.Fatalf("bindings %v, want one after both publishes, leaving both behind", subs)
	}
	if got := effectsOf(h); got["order-1"] != 1 || got["order-2"] != 1 || len(got) != 2 {
		t.Errorf("effects %v, want each order once, from the replay", got)
	}
	for _, e := range h.Events {
		if e.Op == history.OpDeliver {
			t.Errorf("%s: nothing is left to deliver live", e)
		}
	}
}
