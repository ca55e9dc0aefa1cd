package sim

import (
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
)

// TestMechanismTable: every fault kind of the catalogue but none has a mechanism on the
// simulator, and every row names a catalogue kind.
func TestMechanismTable(t *testing.T) {
	for kind, m := range mechanisms {
		if _, err := fault.Lookup(kind); err != nil || kind == fault.None || m == nil {
			t.Errorf("mechanism row %q: not a fault kind with a mechanism (%v)", kind, err)
		}
	}
	for _, name := range fault.Names() {
		if name != fault.None && mechanisms[name] == nil {
			t.Errorf("fault %s has no mechanism on the simulator", name)
		}
	}
}
