package sim

import (
	"context"
	"errors"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// crashSignal unwinds a process that a fault killed; stopSignal unwinds every process when the
// run ends. Both are recovered by the process's own loop.
type (
	crashSignal struct{}
	stopSignal  struct{}
)

// never is a blocking condition that only the deadline ends.
func never() bool { return false }

// proc is one simulated OS process: its body runs as a coroutine; what the servers hold for it
// (open transactions, broker channels) is wiped when it dies (world.reset, crash.go).
type proc struct {
	w    *world
	name string
	body func(ctx context.Context)

	co       *coro               // the coroutine that runs it
	yield    func(struct{}) bool // hands the baton back; set when its sequence starts
	stopping bool                // the run is over: unwind at the next scheduling point

	cond  func() bool // while blocked: what ends the wait early (nil: runnable)
	until int64       // while blocked: the deadline (0: none)

	finished  bool
	idle      bool // blocked waiting for work: the only state in which a run may end
	down      bool // crashed, waiting for its restart
	unwinding bool // crash in progress: port calls fail at once

	// Set by a fault's mechanism at an operation, taken by the operation at once.
	replyWithheld bool           // the reply to the operation in progress never comes
	handBack      bool           // the delivery in progress is handed back (reorder)
	commitCut     *history.Fault // a link cut that meets the COMMIT in progress in flight (cutInFlight)
	holdCommit    bool           // the COMMIT in progress waits for the other producer's (concurrent-producers)
	restartIn     int64          // the next restart comes this long after the crash (late-redelivery); 0: Config.RestartDelay

	txs   []*tx
	pubCh *channel
	subCh *channel
}

// ready reports whether the scheduler may run p now.
func (p *proc) ready(now int64) bool {
	switch {
	case p.finished:
		return false
	case p.cond == nil && p.until == 0:
		return true
	case p.until != 0 && now >= p.until:
		return true
	default:
		return p.cond != nil && p.cond()
	}
}

// block hands the baton back until cond holds or the deadline passes. The process takes the
// scheduler's next step itself (world.advance): when the pick is its own it runs on at once,
// without the round trip through the scheduler's goroutine; otherwise it hands the pick over.
func (p *proc) block(cond func() bool, until int64) {
	p.cond, p.until = cond, until
	if p.stopping {
		panic(stopSignal{})
	}
	if next := p.w.advance(); next != p {
		p.w.handoff = next // nil: the run is over
		if !p.yield(struct{}{}) || p.stopping {
			panic(stopSignal{})
		}
	}
	p.cond, p.until = nil, 0
}

// idleWait blocks like block, marking the process idle meanwhile: waiting for work, not in the
// middle of something.
func (p *proc) idleWait(cond func() bool, until int64) {
	p.idle = true
	p.block(cond, until)
	p.idle = false
}

// step is the scheduling point every port call starts with.
func (p *proc) step() { p.block(nil, 0) }

// sleep blocks for d simulated milliseconds.
func (p *proc) sleep(d int64) { p.block(never, p.w.now+d) }

// seq is the process's life on its coroutine: incarnations of the body, a crash and a restart
// between them.
func (p *proc) seq(yield func(struct{}) bool) {
	p.yield = yield
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopSignal); !ok {
				panic(r)
			}
		}
	}()
	for {
		if !p.incarnation() {
			p.finished = true
			return
		}
		p.w.reset(p)
		p.down = true
		p.unwinding = false
		p.sleep(p.takeRestartDelay())
		p.down = false
		p.w.note(p.name, history.OpRestart, "", "", "")
	}
}

// incarnation runs the body once; it reports whether the body died in a crash.
func (p *proc) incarnation() (crashed bool) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(crashSignal); ok {
				crashed = true
				return
			}
			panic(r)
		}
	}()
	p.body(context.Background())
	return false
}

// crash kills the process where it stands.
func (p *proc) crash(point string) {
	p.w.note(p.name, history.OpCrash, "", "", point)
	p.unwinding = true
	panic(crashSignal{})
}

// errUnwinding is what a port call made by a dying process's deferred code gets.
var errUnwinding = errors.New("sim: process is dying")

// faults is the process's strategies.Faults.
type faults struct{ p *proc }

func (f faults) Point(_ context.Context, name string) {
	p := f.p
	if p.unwinding {
		return
	}
	p.step()
	p.w.schedule.Pass(p.name, name)
	p.w.at(p, fault.OpPoint, name)
}

// clock is the process's strategies.Clock: simulated milliseconds.
type clock struct{ p *proc }

// Now is logical: the Unix epoch plus the run's simulated milliseconds. Reading it is not a
// scheduling point, so a strategy that reads the time leaves the schedule as it was.
func (c clock) Now() time.Time { return time.UnixMilli(c.p.w.now).UTC() }

func (c clock) Sleep(_ context.Context, d time.Duration) {
	if c.p.unwinding {
		return
	}
	c.p.sleep(max(1, d.Milliseconds()))
}
