package real

// late-redelivery on real servers: the worker is SIGKILLed at its fault point, as for a crash,
// and its new process starts only fault.LateBy of wall time later, so that the copy it brings
// (the relay's republish, or the broker's redelivery of what the consumer had not acknowledged,
// taken by that consumer when it is back) arrives after every dedup window of the first copy.

import (
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// restartDelay is how long a worker that fault f killed stays down: fault.LateBy for
// late-redelivery, the backend's restart delay for every other crash.
func (r *run) restartDelay(f *history.Fault) time.Duration {
	if f != nil && f.Kind == fault.LateRedelivery {
		return fault.LateBy
	}
	return r.b.RestartDelay
}
