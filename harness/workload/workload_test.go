package workload

import (
	"reflect"
	"strings"
	"testing"
)

// fixed answers every draw with the same number (clamped to the range).
type fixed int

func (f fixed) IntRange(_ string, lo, hi int) int { return min(max(int(f), lo), hi) }

func TestCatalogue(t *testing.T) {
	if got, want := Names(), []string{"orders", "credits", "prices", "emails", "chain"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Names() = %q, want %q", got, want)
	}
	effects := map[Effect]bool{}
	for _, w := range All() {
		if w.Doc == "" || strings.Contains(w.Doc, "\n") || w.Event == "" || w.command == nil {
			t.Errorf("%s: incomplete: %+v", w.Name, w)
		}
		if w.Words.Command == "" || w.Words.Applied == "" || w.Words.Rows == "" {
			t.Errorf("%s: missing words: %+v", w.Name, w.Words)
		}
		effects[w.Effect] = true
		got, err := Lookup(w.Name)
		if err != nil || got.Name != w.Name || EffectOf(w.Name) != w.Effect {
			t.Errorf("Lookup(%q) = %v, %v", w.Name, got.Name, err)
		}
	}
	if len(effects) != 4 {
		t.Errorf("effect kinds %v: want append, add, set and external", effects)
	}
	// All returns copies: changing one does not change the catalogue.
	All()[0].Name = "x"
	if Names()[0] != "orders" {
		t.Error("All exposes the catalogue")
	}
}

func TestLookupUnknown(t *testing.T) {
	for _, name := range []string{"", "Orders", "stock"} {
		w, err := Lookup(name)
		if err == nil || w.Name != "" || EffectOf(name) != "" {
			t.Errorf("Lookup(%q) = %+v, %v; want an error", name, w, err)
		}
	}
	_, err := Lookup("stock")
	if want := `unknown workload "stock" (known: orders, credits, prices, emails, chain)`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestCommands(t *testing.T) {
	for _, tc := range []struct {
		w    Workload
		src  Source
		want []Command
	}{
		{Orders, fixed(0), []Command{
			{ID: "order-1", Key: "order-1", Amount: 10, Seq: 1, Kind: "OrderPlaced"},
			{ID: "order-2", Key: "order-2", Amount: 20, Seq: 1, Kind: "OrderPlaced"},
		}},
		{Credits, fixed(1), []Command{
			{ID: "txn-1", Key: "acct-B", Amount: 10, Seq: 1, Kind: "AccountCredited"},
			{ID: "txn-2", Key: "acct-B", Amount: 20, Seq: 2, Kind: "AccountCredited"},
		}},
		{Prices, fixed(0), []Command{
			{ID: "price-1", Key: "sku-1", Amount: 101, Seq: 1, Kind: "ProductPriceChanged"},
			{ID: "price-2", Key: "sku-1", Amount: 102, Seq: 2, Kind: "ProductPriceChanged"},
		}},
		{Chain, fixed(0), []Command{
			{ID: "order-1", Key: "order-1", Amount: 10, Seq: 1, Kind: "OrderPlaced"},
			{ID: "order-2", Key: "order-2", Amount: 20, Seq: 1, Kind: "OrderPlaced"},
		}},
		{Emails, fixed(0), []Command{
			{ID: "signup-1", Key: "user-1", Amount: 1, Seq: 1, Kind: "UserRegistered"},
			{ID: "signup-2", Key: "user-2", Amount: 2, Seq: 1, Kind: "UserRegistered"},
		}},
	} {
		if got := tc.w.Commands(tc.src, 2, 2); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: Commands = %+v, want %+v", tc.w.Name, got, tc.want)
		}
	}
}

// TestChainOutput: the chain's downstream message is a function of the upstream one alone, so a
// re-processed duplicate emits the same message; only the chain emits one.
func TestChainOutput(t *testing.T) {
	got := Output("order-3", 30)
	want := Command{ID: "ship-order-3", Key: "order-3", Amount: 30, Seq: 1, Kind: "ShipmentRequested"}
	if got != want || Output("order-3", 30) != got {
		t.Errorf("Output = %+v, want %+v every time", got, want)
	}
	for _, w := range All() {
		if (w.Downstream != "") != (w.Name == "chain") {
			t.Errorf("%s: Downstream %q", w.Name, w.Downstream)
		}
	}
}
