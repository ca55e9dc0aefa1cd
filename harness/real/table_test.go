package real

import (
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
)

// TestMechanismTable: every fault kind of the catalogue but none has a mechanism on real
// servers, every row names catalogue kinds, and a row counts operations on a link exactly when
// its kinds name a link.
func TestMechanismTable(t *testing.T) {
	covered := map[string]bool{}
	for i, row := range mechanisms {
		if len(row.on) == 0 {
			t.Errorf("row %d (%s) has no fault", i, row.gate)
		}
		for kind, m := range row.on {
			k, err := fault.Lookup(kind)
			if err != nil {
				t.Errorf("row %d (%s): %v", i, row.gate, err)
				continue
			}
			if m == nil {
				t.Errorf("row %d (%s): %s has no mechanism", i, row.gate, kind)
			}
			if k.Link != (row.link != "") {
				t.Errorf("row %d (%s): %s names a link: %v, the row counts on link %q", i, row.gate, kind, k.Link, row.link)
			}
			covered[kind] = true
		}
	}
	for _, name := range fault.Names() {
		if name != fault.None && !covered[name] {
			t.Errorf("fault %s has no mechanism on real servers", name)
		}
	}
}
