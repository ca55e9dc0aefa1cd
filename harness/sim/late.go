package sim

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// late-redelivery: the process dies at its fault point, as for a crash, and comes back only
// fault.LateBy later. Logical time jumps over the wait (the scheduler moves the clock to the next
// wake-up when no one can run), so the copy the restart brings (the relay's republish, or the
// broker's redelivery of what the consumer had not acknowledged, taken by that consumer on its
// return) arrives after every dedup window of the first copy.

// crashLate kills p at its fault point; its restart waits fault.LateBy.
func crashLate(_ *world, p *proc, _ *history.Fault, point string) {
	p.restartIn = fault.LateBy.Milliseconds()
	p.crash(point)
}

// takeRestartDelay is how long p stays down after the crash that unwound it: the late restart a
// fault asked for, once, or the configured restart delay.
func (p *proc) takeRestartDelay() int64 {
	d := p.w.cfg.RestartDelay
	if p.restartIn > 0 {
		d, p.restartIn = p.restartIn, 0
	}
	return d
}
