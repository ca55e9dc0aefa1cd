package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

func testOrders(n int) []history.Message {
	out := make([]history.Message, 0, n)
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("order-%d", i)
		out = append(out, history.Message{ID: id, Key: id, Amount: int64(100 + i), Kind: "OrderPlaced"})
	}
	return out
}

func testCredits(amounts ...int64) []history.Message {
	out := make([]history.Message, 0, len(amounts))
	for i, a := range amounts {
		out = append(out, history.Message{ID: fmt.Sprintf("txn-%d", i+1), Key: "acct-1", Amount: a, Kind: "AccountCredited"})
	}
	return out
}

func testPrices(amounts ...int64) []history.Message {
	out := make([]history.Message, 0, len(amounts))
	for i, a := range amounts {
		out = append(out, history.Message{ID: fmt.Sprintf("price-%d", i+1), Key: "product-1", Amount: a, Seq: int64(i + 1), Kind: "ProductPriceChanged"})
	}
	return out
}

// scenario builds a scenario by hand: one fault (or none), one consumer unless the fault needs
// more, prefetch and batch of 1.
func scenario(prod, cons, workload string, cmds []history.Message, faults ...history.Fault) history.Scenario {
	sc := history.Scenario{
		Producer: prod, Consumer: cons, Workload: workload, Fault: fault.None, Seed: 1,
		Commands: cmds, Faults: faults, Consumers: 1, Prefetch: 1, Batch: 1,
	}
	if len(faults) > 0 {
		sc.Fault = faults[0].Kind
	}
	return sc
}

// run simulates sc and checks what every run must end with: quiescence, an empty broker, time
// that never goes back and every scheduled fault fired.
func run(t *testing.T, sc history.Scenario) *history.History {
	t.Helper()
	p, err := strategies.LookupProducer(sc.Producer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := strategies.LookupConsumer(sc.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Run(sc, p, c, DefaultConfig())
	if err != nil {
		logEvents(t, h)
		t.Fatal(err)
	}
	checkEnd(t, h)
	if t.Failed() {
		logEvents(t, h)
	}
	return h
}

func logEvents(t *testing.T, h *history.History) {
	t.Helper()
	if h == nil {
		return
	}
	for _, e := range h.Events {
		t.Logf("%6d %s", e.Time, e)
	}
}

// checkEnd checks the end of a run that returned no error. Run reports quiescence only when no
// transaction is open, nothing is ready or unacked in the broker and no committed outbox row is
// unpublished; the last event says so, and the final reads must agree.
func checkEnd(t *testing.T, h *history.History) {
	t.Helper()
	if !h.Quiesced {
		t.Errorf("history not marked quiesced")
	}
	if n := len(h.Events); n == 0 || h.Events[n-1].Op != history.OpQuiesce {
		t.Errorf("last event is not %s", history.OpQuiesce)
	}
	if h.Final.Ready != 0 || h.Final.Unacked != 0 {
		t.Errorf("final: broker holds %d ready and %d unacked messages, want none", h.Final.Ready, h.Final.Unacked)
	}
	for _, r := range h.Final.Outbox {
		if !r.Published {
			t.Errorf("final: outbox row %d (%s) unpublished after quiescence", r.ID, r.Msg)
		}
	}
	for i := 1; i < len(h.Events); i++ {
		if h.Events[i].Time < h.Events[i-1].Time {
			t.Errorf("event %d (%s) at t=%d comes after t=%d", i, h.Events[i], h.Events[i].Time, h.Events[i-1].Time)
			break
		}
	}
	fired := 0
	for _, e := range h.Events {
		if e.Op == history.OpFault {
			fired++
		}
	}
	if fired != len(h.Scenario.Faults) {
		t.Errorf("%d of %d scheduled faults fired", fired, len(h.Scenario.Faults))
	}
}

// determinismScenarios are faulty runs with concurrency in them: crashes and restarts, retries,
// competing consumers, an outage and its heal.
func determinismScenarios() map[string]history.Scenario {
	crashRelay := scenario("outbox", "inbox", "orders", testOrders(3),
		history.Fault{Kind: fault.CrashRelay, Target: "relay", Point: strategies.PointRelayAfterPublish, Nth: 1})
	crashRelay.Prefetch, crashRelay.Batch = 2, 2

	lostConfirm := scenario("double-write", "naive", "orders", testOrders(3),
		history.Fault{Kind: fault.LostConfirm, Target: "producer", Nth: 1})

	competing := scenario("outbox", "inbox-racy", "orders", testOrders(3),
		history.Fault{Kind: fault.ConcurrentConsumers, Target: fault.ConsumerName(1), Nth: 1})
	competing.Consumers = 2

	down := scenario("outbox", "inbox", "credits", testCredits(5, 7, 11),
		history.Fault{Kind: fault.BrokerDown, Nth: 3, Duration: 100})
	down.Consumers, down.Prefetch = 2, 2

	return map[string]history.Scenario{
		"outbox-inbox-crash-relay":               crashRelay,
		"double-write-naive-lost-confirm":        lostConfirm,
		"outbox-inbox-racy-concurrent-consumers": competing,
		"outbox-inbox-broker-down":               down,
	}
}

// TestDeterminism: the same scenario gives the same history, byte for byte; another seed gives
// another interleaving.
func TestDeterminism(t *testing.T) {
	scs := determinismScenarios()
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range scs {
			if !yield(k) {
				return
			}
		}
	})
	reseeded := 0
	for _, name := range names {
		sc := scs[name]
		t.Run(name, func(t *testing.T) {
			first, err := json.Marshal(run(t, sc))
			if err != nil {
				t.Fatal(err)
			}
			second, err := json.Marshal(run(t, sc))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(first, second) {
				t.Fatalf("two runs of one scenario differ:\n%s\n%s", first, second)
			}

			other := sc
			other.Seed = sc.Seed + 1
			a, err := json.Marshal(run(t, sc).Events)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(run(t, other).Events)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a, b) {
				reseeded++
			}
		})
	}
	if !t.Failed() && reseeded == 0 {
		t.Errorf("no scenario's events changed with the seed: the seed does not reach the scheduler")
	}
}

// TestFinalStates: small scenarios whose final state follows from the strategies and the fault
// alone, under every interleaving.
func TestFinalStates(t *testing.T) {
	type want struct {
		committed []string         // business rows, in commit order
		effects   map[string]int   // message id -> effect rows
		values    map[string]int64 // key -> balance or price
	}
	crashConsumer := history.Fault{Kind: fault.CrashConsumer, Target: fault.ConsumerName(1), Point: strategies.PointConsumerAfterEffect, Nth: 1}
	lostAck := history.Fault{Kind: fault.LostAck, Target: fault.ConsumerName(1), Nth: 1}
	cases := []struct {
		name string
		sc   history.Scenario
		want want
	}{
		{
			name: "double-write naive orders, no fault: one effect each",
			sc:   scenario("double-write", "naive", "orders", testOrders(3)),
			want: want{committed: []string{"order-1", "order-2", "order-3"}, effects: map[string]int{"order-1": 1, "order-2": 1, "order-3": 1}},
		},
		{
			name: "double-write naive orders, consumer dies after the effect: charged twice",
			sc:   scenario("double-write", "naive", "orders", testOrders(1), crashConsumer),
			want: want{committed: []string{"order-1"}, effects: map[string]int{"order-1": 2}},
		},
		{
			name: "outbox inbox orders, consumer dies after the effect: charged once",
			sc:   scenario("outbox", "inbox", "orders", testOrders(1), crashConsumer),
			want: want{committed: []string{"order-1"}, effects: map[string]int{"order-1": 1}},
		},
		{
			name: "double-write naive orders, producer dies after the commit: event lost",
			sc: scenario("double-write", "naive", "orders", testOrders(1),
				history.Fault{Kind: fault.CrashProducer, Target: "producer", Point: strategies.PointProducerAfterCommit, Nth: 1}),
			want: want{committed: []string{"order-1"}, effects: map[string]int{}},
		},
		{
			name: "publish-first naive orders, producer dies after the publish: phantom effect",
			sc: scenario("publish-first", "naive", "orders", testOrders(1),
				history.Fault{Kind: fault.CrashProducer, Target: "producer", Point: strategies.PointProducerAfterPublish, Nth: 1}),
			want: want{committed: nil, effects: map[string]int{"order-1": 1}},
		},
		{
			name: "outbox naive orders, relay dies after the publish: published twice",
			sc: scenario("outbox", "naive", "orders", testOrders(1),
				history.Fault{Kind: fault.CrashRelay, Target: "relay", Point: strategies.PointRelayAfterPublish, Nth: 1}),
			want: want{committed: []string{"order-1"}, effects: map[string]int{"order-1": 2}},
		},
		{
			name: "double-write naive orders, ack lost: charged twice",
			sc:   scenario("double-write", "naive", "orders", testOrders(1), lostAck),
			want: want{committed: []string{"order-1"}, effects: map[string]int{"order-1": 2}},
		},
		{
			name: "double-write naive orders, lost confirm: published twice",
			sc: scenario("double-write", "naive", "orders", testOrders(1),
				history.Fault{Kind: fault.LostConfirm, Target: "producer", Nth: 1}),
			want: want{committed: []string{"order-1"}, effects: map[string]int{"order-1": 2}},
		},
		{
			name: "double-write naive orders, producer's commit reply lost: committed, never published",
			sc: scenario("double-write", "naive", "orders", testOrders(1),
				history.Fault{Kind: fault.AmbiguousCommit, Target: "producer", Nth: 1}),
			want: want{committed: []string{"order-1"}, effects: map[string]int{}},
		},
		{
			name: "outbox inbox orders, broker down for 200ms: one effect each",
			sc: scenario("outbox", "inbox", "orders", testOrders(3),
				history.Fault{Kind: fault.BrokerDown, Nth: 2, Duration: 200}),
			want: want{committed: []string{"order-1", "order-2", "order-3"}, effects: map[string]int{"order-1": 1, "order-2": 1, "order-3": 1}},
		},
		{
			name: "outbox inbox credits, ack lost: balance is the sum",
			sc:   scenario("outbox", "inbox", "credits", testCredits(5, 7, 11), lostAck),
			want: want{
				committed: []string{"txn-1", "txn-2", "txn-3"},
				effects:   map[string]int{"txn-1": 1, "txn-2": 1, "txn-3": 1},
				values:    map[string]int64{"acct-1": 23},
			},
		},
		{
			name: "double-write naive credits, first ack lost: the first credit counts twice",
			sc:   scenario("double-write", "naive", "credits", testCredits(5, 7, 11), lostAck),
			want: want{
				committed: []string{"txn-1", "txn-2", "txn-3"},
				effects:   map[string]int{"txn-1": 2, "txn-2": 1, "txn-3": 1},
				values:    map[string]int64{"acct-1": 28},
			},
		},
		{
			name: "double-write natural prices, consumer dies after the effect: last price stays",
			sc:   scenario("double-write", "natural", "prices", testPrices(25, 30), crashConsumer),
			want: want{
				committed: []string{"price-1", "price-2"},
				effects:   map[string]int{"price-1": 1, "price-2": 1},
				values:    map[string]int64{"product-1": 30},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for seed := uint64(1); seed <= 5; seed++ {
				sc := tc.sc
				sc.Seed = seed
				h := run(t, sc)
				f := h.Final

				var committed []string
				for _, m := range f.Committed {
					committed = append(committed, m.ID)
				}
				if !slices.Equal(committed, tc.want.committed) {
					t.Errorf("seed %d: committed %v, want %v", seed, committed, tc.want.committed)
				}
				effects := map[string]int{}
				for _, e := range f.Effects {
					effects[e.Msg]++
				}
				if fmt.Sprint(effects) != fmt.Sprint(tc.want.effects) {
					t.Errorf("seed %d: effects per message %v, want %v", seed, effects, tc.want.effects)
				}
				values := map[string]int64{}
				for _, v := range f.Values {
					values[v.Key] = v.Value
				}
				if want := tc.want.values; fmt.Sprint(values) != fmt.Sprint(want) {
					t.Errorf("seed %d: values %v, want %v", seed, values, want)
				}
				if t.Failed() {
					logEvents(t, h)
					return
				}
			}
		})
	}
}
