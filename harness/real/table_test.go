package real

import (
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
)

// TestMechanismTable: every fault kind of the catalogue but none has a mechanism on real
// servers, and a worker passes a gate where the operation it watches happens; every row of the
// operations names an operation that some kind watches, and names a link exactly when the
// operation is one on a link.
func TestMechanismTable(t *testing.T) {
	for kind, m := range mechanisms {
		if _, err := fault.Lookup(kind); err != nil || kind == fault.None {
			t.Errorf("mechanism for %q: not a fault kind with a mechanism (%v)", kind, err)
		}
		if m == nil {
			t.Errorf("%s has no mechanism", kind)
		}
	}
	watched := map[fault.Op]bool{}
	for i, o := range operations {
		if len(fault.Watching(o.op)) == 0 {
			t.Errorf("row %d (%s): no fault kind watches %s", i, o.gate, o.op)
		}
		if (o.op == fault.OpLink) != (o.link != "") {
			t.Errorf("row %d (%s): operation %s on link %q", i, o.gate, o.op, o.link)
		}
		watched[o.op] = true
	}
	for _, k := range fault.Kinds() {
		if k.Name == fault.None {
			continue
		}
		if mechanisms[k.Name] == nil {
			t.Errorf("fault %s has no mechanism on real servers", k.Name)
		}
		if !watched[k.Watches] {
			t.Errorf("fault %s watches %s, which no gate passes", k.Name, k.Watches)
		}
	}
	// Every link a slow-link fault can name is counted at some gate.
	for _, l := range fault.Links("consumer-1", fault.Topology{Gateway: true}) {
		if !slices.ContainsFunc(operations, func(o site) bool { return o.link == l }) {
			t.Errorf("link %s: no gate counts its operations", l)
		}
	}
}
