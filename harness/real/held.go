package real

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/deliveryharness/harness/harness/real/wire"
)

// held is what a run's connections hold open, from the protocol events the wire toxics see on
// every worker's links: the deliveries each connection holds unacknowledged (by channel), and
// the connections whose client waits on a reply the wire withheld, or that froze. A run is not
// over while anything is held, and what is held when it ends is in its final state (Unacked).
// Both a catalogue run and a service run keep one.
type held struct {
	mu      sync.Mutex
	unacked map[heldConn]map[uint16][]uint64
	stalled map[heldConn]bool
	ended   map[heldConn]bool
}

// heldConn is one connection of one worker's link.
type heldConn struct {
	proc, link string // the worker, and the link: db, broker or gateway
	conn       uint64
}

func newHeld() *held {
	return &held{unacked: map[heldConn]map[uint16][]uint64{}, stalled: map[heldConn]bool{}, ended: map[heldConn]bool{}}
}

// see keeps what a protocol event on connection c, and the action taken on it, leave open.
func (h *held) see(c heldConn, ev wire.Event, act wire.Action) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ended[c] {
		return
	}
	if act == wire.Withhold || act == wire.Hold {
		h.stalled[c] = true
	}
	switch ev.Kind {
	case wire.AMQPDeliver:
		if h.unacked[c] == nil {
			h.unacked[c] = map[uint16][]uint64{}
		}
		h.unacked[c][ev.Channel] = append(h.unacked[c][ev.Channel], ev.DeliveryTag)
	case wire.AMQPAck, wire.AMQPNack:
		if act == wire.Drop || act == wire.DropReset || h.unacked[c] == nil {
			return // the broker never sees a dropped one
		}
		h.unacked[c][ev.Channel] = slices.DeleteFunc(h.unacked[c][ev.Channel], func(t uint64) bool {
			return t == ev.DeliveryTag || ev.Multiple && t < ev.DeliveryTag
		})
	case wire.AMQPChannelClose:
		delete(h.unacked[c], ev.Channel) // the broker requeues what the channel held
	}
}

// end forgets connection c: once it ends it holds nothing (the broker requeues its
// unacknowledged deliveries) and waits for nothing.
func (h *held) end(c heldConn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ended[c] = true
	delete(h.unacked, c)
	delete(h.stalled, c)
}

// unackedCount is how many deliveries the run's connections hold unacknowledged.
func (h *held) unackedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, chans := range h.unacked {
		for _, tags := range chans {
			n += len(tags)
		}
	}
	return n
}

// open says what is held, by worker, empty when nothing is.
func (h *held) open() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	byProc := map[string]int{}
	waiting := map[string]int{}
	for c, chans := range h.unacked {
		for _, tags := range chans {
			byProc[c.proc] += len(tags)
		}
	}
	for c := range h.stalled {
		waiting[c.proc+"'s "+c.link+" link"]++
	}
	var parts []string
	for _, p := range sortedKeys(byProc) {
		if byProc[p] > 0 {
			parts = append(parts, fmt.Sprintf("%s holds %d unacknowledged deliveries", p, byProc[p]))
		}
	}
	for _, p := range sortedKeys(waiting) {
		parts = append(parts, fmt.Sprintf("%d connection(s) on %s still wait on a reply the wire withheld or froze", waiting[p], p))
	}
	return strings.Join(parts, "; ")
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
