package scenarios_test

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/scenarios/result"
)

// positionRelaySmallest is how many commands the smallest counterexample of a cell of the relays
// that read by position (catalogue_relays.go) under concurrent-producers takes, where it is more
// than two. The fenced relays publish in transaction-id order: an event of a key overtakes an
// older one only when the first producer's held COMMIT is its second command, begun before the
// second producer's, which is three commands. The offset relay loses the held row: on a set
// workload (prices) a lost change breaks something only when it is the newest, the first
// producer's second command, again three.
func positionRelaySmallest(c result.Cell) (int, bool) {
	if c.Fault != fault.ConcurrentProducers {
		return 0, false
	}
	switch c.Producer {
	case "outbox-fenced", "event-sourcing":
		return 3, true
	case "outbox-offset":
		if workload.EffectOf(c.Workload) == workload.Set {
			return 3, true
		}
	}
	return 0, false
}
