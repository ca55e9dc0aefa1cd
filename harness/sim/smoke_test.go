package sim

import (
	"fmt"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

func orders(n int) []history.Message {
	var out []history.Message
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("order-%d", i)
		out = append(out, history.Message{ID: id, Key: id, Amount: int64(100 + i), Kind: "OrderPlaced"})
	}
	return out
}

func TestSmoke(t *testing.T) {
	for _, pc := range [][2]string{{"outbox", "inbox"}, {"double-write", "naive"}, {"publish-first", "natural"}} {
		p, _ := strategies.LookupProducer(pc[0])
		c, _ := strategies.LookupConsumer(pc[1])
		sc := history.Scenario{Producer: pc[0], Consumer: pc[1], Workload: "orders", Fault: "none", Seed: 7, Commands: orders(5), Consumers: 1, Prefetch: 2, Batch: 3}
		h, err := Run(sc, p, c, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s/%s: %d events, effects %d, committed %d, t=%d", pc[0], pc[1], len(h.Events), len(h.Final.Effects), len(h.Final.Committed), h.Events[len(h.Events)-1].Time)
		if len(h.Final.Effects) != 5 {
			for _, e := range h.Events {
				t.Log(e.Time, e)
			}
			t.Fatalf("effects %d", len(h.Final.Effects))
		}
	}
}

func TestSmokeFaults(t *testing.T) {
	cases := []struct {
		p, c string
		f    history.Fault
		n    int
	}{
		{"double-write", "naive", history.Fault{Kind: "crash-consumer", Target: "consumer-1", Point: "consumer.after-effect", Nth: 1}, 2},
		{"outbox", "naive", history.Fault{Kind: "crash-relay", Target: "relay", Point: "relay.after-publish", Nth: 1}, 2},
		{"double-write", "naive", history.Fault{Kind: "lost-confirm", Target: "producer", Nth: 1}, 2},
		{"outbox", "inbox", history.Fault{Kind: "broker-down", Nth: 3, Duration: 100}, 2},
		{"outbox", "inbox-racy", history.Fault{Kind: "concurrent-consumers", Target: "consumer-1", Nth: 1}, 2},
	}
	for _, tc := range cases {
		p, _ := strategies.LookupProducer(tc.p)
		c, _ := strategies.LookupConsumer(tc.c)
		sc := history.Scenario{Producer: tc.p, Consumer: tc.c, Workload: "orders", Fault: tc.f.Kind, Seed: 3, Commands: orders(tc.n), Consumers: 2, Prefetch: 1, Batch: 1, Faults: []history.Fault{tc.f}}
		h, err := Run(sc, p, c, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("== %s/%s %s: effects %d", tc.p, tc.c, tc.f, len(h.Final.Effects))
		for _, e := range h.Events {
			t.Log(e.Time, e)
		}
	}
}
