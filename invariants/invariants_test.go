package invariants

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

func load(t *testing.T, name string) *history.History {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var h history.History
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &h
}

// expect is what a violation must be, evidence aside.
type expect struct {
	invariant Name
	key       string
	msgs      []string
	detail    string
}

func got(vs []Violation) []expect {
	out := make([]expect, len(vs))
	for i, v := range vs {
		out[i] = expect{v.Invariant, v.Key, v.Msgs, v.Detail}
	}
	return out
}

func TestFixtures(t *testing.T) {
	const (
		dup       = "no-duplicate-effect"
		lost      = "no-lost-effect"
		phantom   = "no-phantom-effect"
		converges = "converges"
		balance   = "balance"
	)
	tests := []struct {
		fixture  string
		workload string
		want     []expect
	}{
		{"orders-good", "orders", nil},
		{"orders-duplicate", "orders", []expect{
			{dup, "order-1", []string{"order-1"}, "order-1 paid 2 times (payments for order-1: 2)"},
		}},
		{"orders-lost", "orders", []expect{
			{lost, "order-2", []string{"order-2"}, "order-2 committed but never paid (payments for order-2: 0)"},
		}},
		{"orders-phantom", "orders", []expect{
			{phantom, "order-2", []string{"order-2"}, "order-2 paid 1 time but never committed (payments for order-2: 1, committed rows: 0)"},
		}},

		{"credits-good", "credits", nil},
		{"credits-duplicate", "credits", []expect{
			{dup, "acct-A", []string{"txn-1"}, "txn-1 credited 2 times to acct-A (ledger entries for txn-1: 2)"},
			{balance, "acct-A", []string{"txn-1"}, "acct-A balance 200, committed credits sum to 100 (txn-1 applied 2 times)"},
		}},
		{"credits-lost", "credits", []expect{
			{lost, "acct-A", []string{"txn-2"}, "txn-2 committed but never credited to acct-A (ledger entries for txn-2: 0)"},
			{balance, "acct-A", []string{"txn-2"}, "acct-A balance 100, committed credits sum to 150 (txn-2 never applied)"},
		}},
		{"credits-phantom", "credits", []expect{
			{phantom, "acct-B", []string{"txn-2"}, "txn-2 credited 1 time to acct-B but never committed (ledger entries for txn-2: 1, committed rows: 0)"},
			{balance, "acct-B", []string{"txn-2"}, "acct-B balance 40, but no credit to acct-B committed (txn-2 applied 1 time but never committed)"},
		}},
		{"credits-balance-lost-update", "credits", []expect{
			{balance, "acct-A", nil, "acct-A balance 100, committed credits sum to 150 (no effect row explains the difference)"},
		}},
		{"credits-balance-orphan", "credits", []expect{
			{balance, "acct-Z", nil, "acct-Z balance 25, but no credit to acct-Z committed (no effect row explains the difference)"},
		}},

		{"prices-good", "prices", nil},
		{"prices-repeat", "prices", nil},
		{"prices-lost", "prices", []expect{
			{lost, "widget", []string{"price-2"}, "price-2 committed but never written to widget (price writes for price-2: 0)"},
			{converges, "widget", []string{"price-1", "price-2"}, "widget price 100 from price-1, expected 120 from price-2 (seq 2)"},
		}},
		{"prices-phantom", "prices", []expect{
			{phantom, "widget", []string{"price-2"}, "price-2 written 1 time to widget but never committed (price writes for price-2: 1, committed rows: 0)"},
			{converges, "widget", []string{"price-1", "price-2"}, "widget price 130 from price-2, expected 100 from price-1 (seq 1)"},
		}},
		{"prices-converges-stale", "prices", []expect{
			{converges, "widget", []string{"price-1", "price-2"}, "widget price 100 from price-1, expected 120 from price-2 (seq 2)"},
		}},
		{"prices-converges-missing", "prices", []expect{
			{converges, "widget", []string{"price-1"}, "widget has no price, expected 100 from price-1 (seq 1)"},
		}},
		{"prices-converges-orphan", "prices", []expect{
			{converges, "gizmo", nil, "gizmo price 55 (no change set it), but no change to gizmo committed"},
		}},

		// An effect must be what its command asked for: its key and its amount, not only its
		// message id. A row that departs is an effect no committed message asked for (phantom),
		// and the message it claims is still owed its own (lost), for every effect kind.
		{"orders-wrong-key", "orders", []expect{
			{lost, "order-1", []string{"order-1"}, "order-1 committed on order-1 for 10 but never paid as committed (payments for order-1: 1, as committed: 0)"},
			{phantom, "order-2", []string{"order-1"}, "order-1 paid 1 time on order-2 for 10, but committed on order-1 for 10 (payments for order-1: 1, as committed: 0)"},
		}},
		{"orders-wrong-amount", "orders", []expect{
			{lost, "order-1", []string{"order-1"}, "order-1 committed on order-1 for 10 but never paid as committed (payments for order-1: 1, as committed: 0)"},
			{phantom, "order-1", []string{"order-1"}, "order-1 paid 1 time on order-1 for 100, but committed on order-1 for 10 (payments for order-1: 1, as committed: 0)"},
		}},
		{"credits-wrong-key", "credits", []expect{
			{lost, "acct-A", []string{"txn-2"}, "txn-2 committed on acct-A for 50 but never credited as committed (ledger entries for txn-2: 1, as committed: 0)"},
			{phantom, "acct-B", []string{"txn-2"}, "txn-2 credited 1 time on acct-B for 50, but committed on acct-A for 50 (ledger entries for txn-2: 1, as committed: 0)"},
			{balance, "acct-A", []string{"txn-2"}, "acct-A balance 100, committed credits sum to 150 (txn-2 applied to acct-B, not acct-A)"},
			{balance, "acct-B", []string{"txn-2"}, "acct-B balance 120, committed credits sum to 70 (txn-2 applied 1 time here but committed to acct-A)"},
		}},
		{"credits-wrong-amount", "credits", []expect{
			{lost, "acct-A", []string{"txn-2"}, "txn-2 committed on acct-A for 50 but never credited as committed (ledger entries for txn-2: 1, as committed: 0)"},
			{phantom, "acct-A", []string{"txn-2"}, "txn-2 credited 1 time on acct-A for 5, but committed on acct-A for 50 (ledger entries for txn-2: 1, as committed: 0)"},
			{balance, "acct-A", []string{"txn-2"}, "acct-A balance 105, committed credits sum to 150 (txn-2 applied as 5 (committed 50))"},
		}},
		{"prices-wrong-key", "prices", []expect{
			{lost, "widget", []string{"price-2"}, "price-2 committed on widget for 120 but never written as committed (price writes for price-2: 1, as committed: 0)"},
			{phantom, "gadget", []string{"price-2"}, "price-2 written 1 time on gadget for 120, but committed on widget for 120 (price writes for price-2: 1, as committed: 0)"},
			{converges, "gadget", []string{"price-2", "price-3"}, "gadget price 120 from price-2, expected 80 from price-3 (seq 1)"},
			{converges, "widget", []string{"price-1", "price-2"}, "widget price 100 from price-1, expected 120 from price-2 (seq 2)"},
		}},
		// A change a newer one overtook owes no effect, but the row it left must still be its own:
		// the final price is right, and only no-phantom-effect sees the wrong write.
		{"prices-wrong-amount", "prices", []expect{
			{phantom, "widget", []string{"price-1"}, "price-1 written 1 time on widget for 999, but committed on widget for 100 (price writes for price-1: 1, as committed: 0)"},
		}},
		{"emails-good", "emails", nil},
		{"emails-wrong-key", "emails", []expect{
			{lost, "user-1", []string{"signup-1"}, "signup-1 committed on user-1 for 1 but never emailed as committed (emails for signup-1: 1, as committed: 0)"},
			{phantom, "user-2", []string{"signup-1"}, "signup-1 emailed 1 time on user-2 for 1, but committed on user-1 for 1 (emails for signup-1: 1, as committed: 0)"},
		}},
		{"emails-wrong-amount", "emails", []expect{
			{lost, "user-2", []string{"signup-2"}, "signup-2 committed on user-2 for 2 but never emailed as committed (emails for signup-2: 1, as committed: 0)"},
			{phantom, "user-2", []string{"signup-2"}, "signup-2 emailed 1 time on user-2 for 20, but committed on user-2 for 2 (emails for signup-2: 1, as committed: 0)"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			h := load(t, tc.fixture)
			if h.Scenario.Workload != tc.workload {
				t.Fatalf("fixture workload = %q, want %q", h.Scenario.Workload, tc.workload)
			}
			vs := Check(h)
			if g := got(vs); !reflect.DeepEqual(g, tc.want) && !(len(g) == 0 && len(tc.want) == 0) {
				t.Errorf("Check:\n got %+v\nwant %+v", g, tc.want)
			}
			var names []Name
			for _, w := range tc.want {
				if len(names) == 0 || names[len(names)-1] != w.invariant {
					names = append(names, w.invariant)
				}
			}
			if b := Broken(vs); !reflect.DeepEqual(b, names) {
				t.Errorf("Broken = %q, want %q", b, names)
			}
			// Evidence holds exactly the events of the violation's messages.
			for _, v := range vs {
				var wantEv []history.Event
				for _, e := range h.Events {
					for _, m := range v.Msgs {
						if e.Msg == m {
							wantEv = append(wantEv, e)
						}
					}
				}
				if !reflect.DeepEqual(v.Evidence, wantEv) {
					t.Errorf("%s %s: evidence\n got %v\nwant %v", v.Invariant, v.Key, v.Evidence, wantEv)
				}
				if len(v.Msgs) > 0 && len(v.Evidence) == 0 {
					t.Errorf("%s %s: no evidence for %v", v.Invariant, v.Key, v.Msgs)
				}
			}
		})
	}
}

func TestCatalogue(t *testing.T) {
	wantNames := []Name{"no-duplicate-effect", "no-lost-effect", "no-phantom-effect", "converges", "balance", "no-ghost-message", "same-output"}
	if got := Names(); !reflect.DeepEqual(got, wantNames) {
		t.Fatalf("Names = %q, want %q", got, wantNames)
	}
	all := All()
	if len(all) != len(wantNames) {
		t.Fatalf("All has %d checkers, want %d", len(all), len(wantNames))
	}
	for i, c := range all {
		if c.Name() != wantNames[i] {
			t.Errorf("All[%d] = %s, want %s", i, c.Name(), wantNames[i])
		}
		if d := c.Doc(); d == "" || strings.Contains(d, "\n") {
			t.Errorf("%s: Doc %q is not one line", c.Name(), d)
		}
	}
	// All returns a copy: changing it does not change the catalogue.
	all[0] = nil
	if All()[0] == nil {
		t.Error("All exposes the catalogue")
	}
}

func TestApplies(t *testing.T) {
	matrix := map[string][]Name{
		"orders":  {"no-duplicate-effect", "no-lost-effect", "no-phantom-effect"},
		"credits": {"no-duplicate-effect", "no-lost-effect", "no-phantom-effect", "balance"},
		"prices":  {"no-lost-effect", "no-phantom-effect", "converges"},
		"emails":  {"no-duplicate-effect", "no-lost-effect", "no-phantom-effect"},
		"":        nil,
		"Orders":  nil,
		"stock":   nil,
	}
	for name, wantNames := range matrix {
		t.Run("workload="+name, func(t *testing.T) {
			applies := make(map[Name]bool)
			for _, n := range wantNames {
				applies[n] = true
			}
			effect := workload.EffectOf(name)
			for _, c := range All() {
				if got := c.Applies(effect); got != applies[c.Name()] {
					t.Errorf("%s.Applies(%q) = %v, want %v", c.Name(), effect, got, applies[c.Name()])
				}
			}
			var names []Name
			for _, c := range For(name) {
				names = append(names, c.Name())
			}
			if !reflect.DeepEqual(names, wantNames) {
				t.Errorf("For(%q) = %q, want %q", name, names, wantNames)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	for _, name := range Names() {
		c, err := Lookup(name)
		if err != nil || c == nil || c.Name() != name {
			t.Errorf("Lookup(%q) = %v, %v", name, c, err)
		}
	}
	c, err := Lookup("no-dupes")
	if err == nil || c != nil {
		t.Fatalf("Lookup(unknown) = %v, %v; want an error", c, err)
	}
	wantErr := `unknown invariant "no-dupes" (known: no-duplicate-effect, no-lost-effect, no-phantom-effect, converges, balance, no-ghost-message, same-output)`
	if err.Error() != wantErr {
		t.Errorf("error = %q, want %q", err, wantErr)
	}
}

func TestBroken(t *testing.T) {
	vs := []Violation{
		{Invariant: "balance"}, {Invariant: "zz-custom"}, {Invariant: "no-duplicate-effect"},
		{Invariant: "balance"}, {Invariant: "aa-custom"}, {Invariant: "no-duplicate-effect"},
	}
	want := []Name{"no-duplicate-effect", "balance", "aa-custom", "zz-custom"}
	if got := Broken(vs); !reflect.DeepEqual(got, want) {
		t.Errorf("Broken = %q, want %q", got, want)
	}
	if got := Broken(nil); len(got) != 0 {
		t.Errorf("Broken(nil) = %q", got)
	}
}

// Setting a price twice is harmless: a prices history never reports no-duplicate-effect, even
// where the checker alone would.
func TestPricesNeverDuplicate(t *testing.T) {
	h := load(t, "prices-repeat")
	dup, err := Lookup("no-duplicate-effect")
	if err != nil {
		t.Fatal(err)
	}
	if alone := dup.Check(h); len(alone) != 1 || alone[0].Key != "widget" || !reflect.DeepEqual(alone[0].Msgs, []string{"price-2"}) {
		t.Fatalf("the fixture must repeat price-2 on widget; no-duplicate-effect alone = %+v", got(alone))
	}
	for _, name := range []string{"prices-good", "prices-repeat", "prices-lost", "prices-phantom", "prices-converges-stale"} {
		h := load(t, name)
		h.Final.Effects = append(h.Final.Effects, h.Final.Effects...) // every effect twice
		for _, v := range Check(h) {
			if v.Invariant == "no-duplicate-effect" {
				t.Errorf("%s: Check reported %+v", name, v)
			}
		}
	}
}

func TestNil(t *testing.T) {
	if vs := Check(nil); vs != nil {
		t.Errorf("Check(nil) = %+v", vs)
	}
	for _, c := range All() {
		if vs := c.Check(nil); vs != nil {
			t.Errorf("%s.Check(nil) = %+v", c.Name(), vs)
		}
	}
}

func TestViolationJSON(t *testing.T) {
	vs := Check(load(t, "credits-duplicate"))
	data, err := json.Marshal(vs[0])
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"invariant", "key", "msgs", "detail", "evidence"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("JSON lacks %q: %s", k, data)
		}
	}
	var back Violation
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, vs[0]) {
		t.Errorf("round trip = %+v, %v", back, err)
	}
}

// generated builds a run with many broken keys of every kind the workload can show.
func generated(workload string, n int) *history.History {
	h := &history.History{Scenario: history.Scenario{Workload: workload}}
	values := make(map[string]int64)
	var t int64
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("msg-%03d", i)
		key := fmt.Sprintf("key-%02d", i%7)
		if workload == "orders" {
			key = id
		}
		m := history.Message{ID: id, Key: key, Amount: int64(10 + i), Seq: int64(i/7 + 1)}
		committed := i%5 != 3
		applies := 1
		switch i % 4 {
		case 1:
			applies = 2
		case 2:
			applies = 0
		}
		if committed {
			h.Final.Committed = append(h.Final.Committed, m)
		}
		t++
		h.Events = append(h.Events, history.Event{Time: t, Proc: "producer", Op: history.OpCommit, Msg: id, Key: key})
		for a := 0; a < applies; a++ {
			row := history.Effect{Msg: id, Key: key, Amount: m.Amount}
			switch {
			case i%9 == 5 && a == applies-1: // booked on another key
				row.Key = fmt.Sprintf("key-%02d", (i+1)%7)
			case i%11 == 4: // booked for another amount
				row.Amount++
			}
			h.Final.Effects = append(h.Final.Effects, row)
			t++
			h.Events = append(h.Events, history.Event{Time: t, Proc: "consumer-1", Op: history.OpApply, Msg: id, Key: key})
			switch workload {
			case "credits":
				values[key] += m.Amount
			case "prices":
				if i%3 != 0 {
					values[key] = m.Amount
				}
			}
		}
	}
	values["key-99"] = 1
	for k, v := range values {
		h.Final.Values = append(h.Final.Values, history.Value{Key: k, Value: v})
	}
	return h
}

func TestDeterminism(t *testing.T) {
	for _, workload := range []string{"orders", "credits", "prices"} {
		t.Run(workload, func(t *testing.T) {
			h := generated(workload, 60)
			first := Check(h)
			if len(Broken(first)) < 2 {
				t.Fatalf("the generated run breaks only %q", Broken(first))
			}
			// Catalogue order across checkers, key then msgs within each.
			rank := make(map[Name]int)
			for i, n := range Names() {
				rank[n] = i
			}
			for i := 1; i < len(first); i++ {
				a, b := first[i-1], first[i]
				if rank[a.Invariant] > rank[b.Invariant] {
					t.Errorf("%s after %s", b.Invariant, a.Invariant)
				}
				if a.Invariant == b.Invariant && (a.Key > b.Key || a.Key == b.Key && !lessMsgs(a.Msgs, b.Msgs)) {
					t.Errorf("%s: %s %v before %s %v", a.Invariant, a.Key, a.Msgs, b.Key, b.Msgs)
				}
			}
			for _, v := range first {
				if !sort.StringsAreSorted(v.Msgs) {
					t.Errorf("%s %s: msgs %q not sorted", v.Invariant, v.Key, v.Msgs)
				}
			}
			// The same final state read in any row order gives the same answer.
			rng := rand.New(rand.NewSource(1))
			for round := 0; round < 20; round++ {
				s := *h
				s.Final.Committed = append([]history.Message(nil), h.Final.Committed...)
				s.Final.Effects = append([]history.Effect(nil), h.Final.Effects...)
				s.Final.Values = append([]history.Value(nil), h.Final.Values...)
				rng.Shuffle(len(s.Final.Committed), func(i, j int) {
					s.Final.Committed[i], s.Final.Committed[j] = s.Final.Committed[j], s.Final.Committed[i]
				})
				rng.Shuffle(len(s.Final.Effects), func(i, j int) {
					s.Final.Effects[i], s.Final.Effects[j] = s.Final.Effects[j], s.Final.Effects[i]
				})
				rng.Shuffle(len(s.Final.Values), func(i, j int) {
					s.Final.Values[i], s.Final.Values[j] = s.Final.Values[j], s.Final.Values[i]
				})
				if again := Check(&s); !reflect.DeepEqual(again, first) {
					t.Fatalf("round %d: Check differs after shuffling the final rows", round)
				}
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	h := generated("credits", 200)
	b.ReportAllocs()
	for b.Loop() {
		Check(h)
	}
}
