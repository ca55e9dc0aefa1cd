package invariants

// What a violation carries as evidence, and how an effect is matched to its committed message.

import (
	"reflect"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
)

func TestDuplicateEvidence(t *testing.T) {
	h := load(t, "orders-duplicate")
	vs := Check(h)
	if len(vs) != 1 || vs[0].Invariant != "no-duplicate-effect" {
		t.Fatalf("Check = %+v", got(vs))
	}
	ev := vs[0].Evidence
	if !reflect.DeepEqual(ev, h.About("order-1")) {
		t.Errorf("evidence = %v\nwant h.About(order-1) = %v", ev, h.About("order-1"))
	}
	applies := 0
	for i, e := range ev {
		if e.Msg != "order-1" {
			t.Errorf("evidence[%d] is about %q", i, e.Msg)
		}
		if i > 0 && e.Time < ev[i-1].Time {
			t.Errorf("evidence[%d] at %d comes after %d", i, e.Time, ev[i-1].Time)
		}
		if e.Op == history.OpApply {
			applies++
		}
	}
	if applies != 2 {
		t.Errorf("evidence shows %d applies, want 2", applies)
	}

	// Events recorded out of time order (several processes flushing their logs) still come out
	// in time order, ties in history order.
	r := *h
	r.Events = make([]history.Event, len(h.Events))
	for i, e := range h.Events {
		r.Events[len(h.Events)-1-i] = e
	}
	rv := Check(&r)
	if len(rv) != 1 || !reflect.DeepEqual(rv[0].Evidence, ev) {
		t.Errorf("evidence from reversed events:\n got %v\nwant %v", rv[0].Evidence, ev)
	}
}

// A violation that names several messages merges their events in time order, each once.
func TestMergedEvidence(t *testing.T) {
	h := &history.History{
		Scenario: history.Scenario{Workload: "credits"},
		Events: []history.Event{
			{Time: 1, Proc: "producer", Op: history.OpCommit, Msg: "txn-2"},
			{Time: 2, Proc: "producer", Op: history.OpCommit, Msg: "txn-1"},
			{Time: 3, Proc: "producer", Op: history.OpCommit, Msg: "txn-3"},
			{Time: 5, Proc: "consumer-1", Op: history.OpApply, Msg: "txn-1"},
			{Time: 4, Proc: "consumer-2", Op: history.OpApply, Msg: "txn-9"},
			{Time: 5, Proc: "consumer-2", Op: history.OpApply, Msg: "txn-1"},
		},
		Final: history.Final{
			Committed: []history.Message{{ID: "txn-1", Key: "acct-A", Amount: 10}, {ID: "txn-2", Key: "acct-A", Amount: 20}, {ID: "txn-3", Key: "acct-A", Amount: 5}},
			Effects:   []history.Effect{{Msg: "txn-1", Key: "acct-A", Amount: 10}, {Msg: "txn-1", Key: "acct-A", Amount: 10}, {Msg: "txn-9", Key: "acct-A", Amount: 7}, {Msg: "txn-3", Key: "acct-A", Amount: 5}},
			Values:    []history.Value{{Key: "acct-A", Value: 32}},
		},
	}
	b, _ := Lookup("balance")
	vs := b.Check(h)
	if len(vs) != 1 {
		t.Fatalf("balance = %+v", got(vs))
	}
	v := vs[0]
	if want := []string{"txn-1", "txn-2", "txn-9"}; !reflect.DeepEqual(v.Msgs, want) {
		t.Errorf("Msgs = %q, want %q", v.Msgs, want)
	}
	wantDetail := "acct-A balance 32, committed credits sum to 35 (txn-1 applied 2 times; txn-2 never applied; txn-9 applied 1 time but never committed)"
	if v.Detail != wantDetail {
		t.Errorf("Detail = %q, want %q", v.Detail, wantDetail)
	}
	e := h.Events
	if want := []history.Event{e[0], e[1], e[4], e[3], e[5]}; !reflect.DeepEqual(v.Evidence, want) {
		t.Errorf("Evidence =\n %v\nwant %v", v.Evidence, want)
	}
}

func TestBalanceAmountMismatch(t *testing.T) {
	h := &history.History{
		Scenario: history.Scenario{Workload: "credits"},
		Final: history.Final{
			Committed: []history.Message{{ID: "txn-1", Key: "acct-A", Amount: 100}},
			Effects:   []history.Effect{{Msg: "txn-1", Key: "acct-A", Amount: 10}},
			Values:    []history.Value{{Key: "acct-A", Value: 10}},
		},
	}
	vs := Check(h)
	want := []expect{
		{"no-lost-effect", "acct-A", []string{"txn-1"}, "txn-1 committed on acct-A for 100 but never credited as committed (ledger entries for txn-1: 1, as committed: 0)"},
		{"no-phantom-effect", "acct-A", []string{"txn-1"}, "txn-1 credited 1 time on acct-A for 10, but committed on acct-A for 100 (ledger entries for txn-1: 1, as committed: 0)"},
		{"balance", "acct-A", []string{"txn-1"}, "acct-A balance 10, committed credits sum to 100 (txn-1 applied as 10 (committed 100))"},
	}
	if g := got(vs); !reflect.DeepEqual(g, want) {
		t.Errorf("Check:\n got %+v\nwant %+v", g, want)
	}
	// A missing balance row reads as 0; with no credits that is correct.
	h.Final = history.Final{Values: []history.Value{{Key: "acct-B", Value: 0}}}
	if vs := Check(h); len(vs) != 0 {
		t.Errorf("Check on empty accounts = %+v", got(vs))
	}
	h.Final = history.Final{Committed: []history.Message{{ID: "txn-1", Key: "acct-A", Amount: 100}}, Effects: []history.Effect{{Msg: "txn-1", Key: "acct-A", Amount: 100}}}
	want = []expect{{"balance", "acct-A", nil, "acct-A balance 0 (no row), committed credits sum to 100 (no effect row explains the difference)"}}
	if g := got(Check(h)); !reflect.DeepEqual(g, want) {
		t.Errorf("Check with no balance row:\n got %+v\nwant %+v", g, want)
	}
}

// An effect row belongs to its committed message only with the message's key and amount: a
// stray row beside a right one is a phantom (and a duplicate where that applies) but nothing is
// lost; rows on two wrong keys are two phantoms; per effect kind.
func TestEffectAsCommitted(t *testing.T) {
	type (
		m = history.Message
		e = history.Effect
		v = history.Value
	)
	for _, tc := range []struct {
		name      string
		workload  string
		committed []m
		effects   []e
		values    []v
		want      []expect
	}{
		{"append: a stray copy on another order", "orders",
			[]m{{ID: "order-1", Key: "order-1", Amount: 10}, {ID: "order-2", Key: "order-2", Amount: 20}},
			[]e{{Msg: "order-1", Key: "order-1", Amount: 10}, {Msg: "order-2", Key: "order-2", Amount: 20}, {Msg: "order-1", Key: "order-2", Amount: 10}},
			nil,
			[]expect{
				{"no-duplicate-effect", "order-1", []string{"order-1"}, "order-1 paid 2 times on order-1 and order-2 (payments for order-1: 2)"},
				{"no-phantom-effect", "order-2", []string{"order-1"}, "order-1 paid 1 time on order-2 for 10, but committed on order-1 for 10 (payments for order-1: 2, as committed: 1)"},
			}},
		{"append: right key, right amount", "orders",
			[]m{{ID: "order-1", Key: "order-1", Amount: 10}},
			[]e{{Msg: "order-1", Key: "order-1", Amount: 10}},
			nil, nil},
		{"add: booked on two other accounts", "credits",
			[]m{{ID: "txn-1", Key: "acct-A", Amount: 10}},
			[]e{{Msg: "txn-1", Key: "acct-C", Amount: 10}, {Msg: "txn-1", Key: "acct-B", Amount: 10}, {Msg: "txn-1", Key: "acct-B", Amount: 11}},
			[]v{{Key: "acct-B", Value: 21}, {Key: "acct-C", Value: 10}},
			[]expect{
				{"no-duplicate-effect", "acct-A", []string{"txn-1"}, "txn-1 credited 3 times on acct-B and acct-C (ledger entries for txn-1: 3)"},
				{"no-lost-effect", "acct-A", []string{"txn-1"}, "txn-1 committed on acct-A for 10 but never credited as committed (ledger entries for txn-1: 3, as committed: 0)"},
				{"no-phantom-effect", "acct-B", []string{"txn-1"}, "txn-1 credited 2 times on acct-B for 10 and 11, but committed on acct-A for 10 (ledger entries for txn-1: 3, as committed: 0)"},
				{"no-phantom-effect", "acct-C", []string{"txn-1"}, "txn-1 credited 1 time on acct-C for 10, but committed on acct-A for 10 (ledger entries for txn-1: 3, as committed: 0)"},
				{"balance", "acct-A", []string{"txn-1"}, "acct-A balance 0 (no row), committed credits sum to 10 (txn-1 applied to acct-B and acct-C, not acct-A)"},
				{"balance", "acct-B", []string{"txn-1"}, "acct-B balance 21, but no credit to acct-B committed (txn-1 applied 2 times here but committed to acct-A)"},
				{"balance", "acct-C", []string{"txn-1"}, "acct-C balance 10, but no credit to acct-C committed (txn-1 applied 1 time here but committed to acct-A)"},
			}},
		{"add: an uncommitted credit is a phantom as before", "credits",
			nil,
			[]e{{Msg: "txn-9", Key: "acct-A", Amount: 5}},
			[]v{{Key: "acct-A", Value: 5}},
			[]expect{
				{"no-phantom-effect", "acct-A", []string{"txn-9"}, "txn-9 credited 1 time to acct-A but never committed (ledger entries for txn-9: 1, committed rows: 0)"},
				{"balance", "acct-A", []string{"txn-9"}, "acct-A balance 5, but no credit to acct-A committed (txn-9 applied 1 time but never committed)"},
			}},
		{"set: the latest change written with another price", "prices",
			[]m{{ID: "price-1", Key: "sku-1", Amount: 101, Seq: 1}, {ID: "price-2", Key: "sku-1", Amount: 102, Seq: 2}},
			[]e{{Msg: "price-1", Key: "sku-1", Amount: 101}, {Msg: "price-2", Key: "sku-1", Amount: 120}},
			[]v{{Key: "sku-1", Value: 120}},
			[]expect{
				{"no-lost-effect", "sku-1", []string{"price-2"}, "price-2 committed on sku-1 for 102 but never written as committed (price writes for price-2: 1, as committed: 0)"},
				{"no-phantom-effect", "sku-1", []string{"price-2"}, "price-2 written 1 time on sku-1 for 120, but committed on sku-1 for 102 (price writes for price-2: 1, as committed: 0)"},
				{"converges", "sku-1", []string{"price-2"}, "sku-1 price 120 from price-2, expected 102 from price-2 (seq 2)"},
			}},
		{"external: a second email to another user", "emails",
			[]m{{ID: "signup-1", Key: "user-1", Amount: 1}},
			[]e{{Msg: "signup-1", Key: "user-1", Amount: 1}, {Msg: "signup-1", Key: "user-9", Amount: 1}},
			nil,
			[]expect{
				{"no-duplicate-effect", "user-1", []string{"signup-1"}, "signup-1 emailed 2 times on user-1 and user-9 (emails for signup-1: 2)"},
				{"no-phantom-effect", "user-9", []string{"signup-1"}, "signup-1 emailed 1 time on user-9 for 1, but committed on user-1 for 1 (emails for signup-1: 2, as committed: 1)"},
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &history.History{
				Scenario: history.Scenario{Workload: tc.workload},
				Final:    history.Final{Committed: tc.committed, Effects: tc.effects, Values: tc.values},
			}
			if g := got(Check(h)); !reflect.DeepEqual(g, tc.want) && !(len(g) == 0 && len(tc.want) == 0) {
				t.Errorf("Check:\n got %+v\nwant %+v", g, tc.want)
			}
		})
	}
}

// Violations of one invariant come by key, then message id; a committed row read twice is one credit.
func TestOrderAndDistinctCommits(t *testing.T) {
	h := &history.History{
		Scenario: history.Scenario{Workload: "credits"},
		Final: history.Final{
			Committed: []history.Message{
				{ID: "txn-3", Key: "acct-B", Amount: 1}, {ID: "txn-2", Key: "acct-A", Amount: 5},
				{ID: "txn-1", Key: "acct-A", Amount: 7}, {ID: "txn-2", Key: "acct-A", Amount: 5},
			},
			Effects: []history.Effect{
				{Msg: "txn-3", Key: "acct-B", Amount: 1}, {Msg: "txn-3", Key: "acct-B", Amount: 1},
				{Msg: "txn-2", Key: "acct-A", Amount: 5}, {Msg: "txn-2", Key: "acct-A", Amount: 5},
				{Msg: "txn-1", Key: "acct-A", Amount: 7}, {Msg: "txn-1", Key: "acct-A", Amount: 7},
			},
			Values: []history.Value{{Key: "acct-B", Value: 2}, {Key: "acct-A", Value: 12}},
		},
	}
	want := []expect{
		{"no-duplicate-effect", "acct-A", []string{"txn-1"}, "txn-1 credited 2 times to acct-A (ledger entries for txn-1: 2)"},
		{"no-duplicate-effect", "acct-A", []string{"txn-2"}, "txn-2 credited 2 times to acct-A (ledger entries for txn-2: 2)"},
		{"no-duplicate-effect", "acct-B", []string{"txn-3"}, "txn-3 credited 2 times to acct-B (ledger entries for txn-3: 2)"},
		{"balance", "acct-B", []string{"txn-3"}, "acct-B balance 2, committed credits sum to 1 (txn-3 applied 2 times)"},
	}
	if g := got(Check(h)); !reflect.DeepEqual(g, want) {
		t.Errorf("Check:\n got %+v\nwant %+v", g, want)
	}
}

// The expected price is the change with the highest seq, whatever order the rows come in.
func TestConvergesHighestSeq(t *testing.T) {
	committed := []history.Message{
		{ID: "price-3", Key: "widget", Amount: 130, Seq: 3},
		{ID: "price-1", Key: "widget", Amount: 100, Seq: 1},
		{ID: "price-2", Key: "widget", Amount: 120, Seq: 2},
	}
	effects := []history.Effect{{Msg: "price-1", Key: "widget", Amount: 100}, {Msg: "price-3", Key: "widget", Amount: 130}, {Msg: "price-2", Key: "widget", Amount: 120}}
	h := &history.History{Scenario: history.Scenario{Workload: "prices"}, Final: history.Final{Committed: committed, Effects: effects, Values: []history.Value{{Key: "widget", Value: 130}}}}
	if vs := Check(h); len(vs) != 0 {
		t.Errorf("Check = %+v", got(vs))
	}
	h.Final.Values[0].Value = 120
	want := []expect{{"converges", "widget", []string{"price-2", "price-3"}, "widget price 120 from price-2, expected 130 from price-3 (seq 3)"}}
	if g := got(Check(h)); !reflect.DeepEqual(g, want) {
		t.Errorf("Check:\n got %+v\nwant %+v", g, want)
	}
}
