package sim

import (
	"iter"
	"sync"
)

// coro is a coroutine that runs simulated processes one after another: a process's sequence
// (proc.seq) from its start to its end, then the next process given to it. Idle coroutines are
// kept for later runs, so that a run starts no goroutine of its own per process and a process
// finds a stack that has already grown to what port calls need. Coroutines are resumed from
// whichever goroutine runs the scheduler; only one resumes a coroutine at a time.
type coro struct {
	next func() (struct{}, bool)
	stop func()
	p    *proc // the process it runs; nil while idle
	dead bool  // its goroutine ended: a panic went through it
}

// idleCoros are the coroutines no run is using, at most maxIdleCoros of them.
var idleCoros struct {
	sync.Mutex
	list []*coro
}

const maxIdleCoros = 64

// takeCoro returns an idle coroutine, or a new one, to run p.
func takeCoro(p *proc) *coro {
	idleCoros.Lock()
	var c *coro
	if n := len(idleCoros.list); n > 0 {
		c = idleCoros.list[n-1]
		idleCoros.list = idleCoros.list[:n-1]
	}
	idleCoros.Unlock()
	if c == nil {
		c = newCoro()
	}
	c.p = p
	return c
}

func newCoro() *coro {
	c := &coro{}
	c.next, c.stop = iter.Pull(func(yield func(struct{}) bool) {
		defer func() { c.dead = true }()
		for {
			if p := c.p; p != nil {
				growStack()
				p.seq(yield)
				c.p = nil
			}
			if !yield(struct{}{}) {
				return
			}
		}
	})
	return c
}

// release ends p's use of the coroutine: a process still in the middle of its body is unwound,
// as when the run ends (its port calls fail from then on, so its deferred code runs at once),
// and the coroutine goes back to the idle ones.
func (c *coro) release(p *proc) {
	if c.dead {
		return
	}
	if c.p == p && p.yield != nil && !p.finished {
		p.stopping = true
		c.next()
	}
	c.p = nil
	idleCoros.Lock()
	if len(idleCoros.list) < maxIdleCoros {
		idleCoros.list = append(idleCoros.list, c)
		c = nil
	}
	idleCoros.Unlock()
	if c != nil {
		c.stop()
	}
}

// stackReserve is the stack a coroutine makes sure of before it runs a process. A goroutine's
// stack grows by copying, adjusting every frame on it (and the collector shrinks the stacks of
// idle coroutines); a process's port calls run deep (strategy, recording wrapper, port,
// scheduler), so growing before the process starts, while the stack holds a few frames, is much
// cheaper than growing there. A stack grows by doubling: this takes it to 8 KiB.
const stackReserve = 6 << 10

// growStack makes the calling goroutine's stack at least stackReserve bytes deep now.
//
//go:noinline
func growStack() byte {
	var buf [stackReserve - 1024]byte
	return touch(buf[:])
}

//go:noinline
func touch(b []byte) byte { return b[len(b)-1] }
