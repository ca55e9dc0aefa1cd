package sim

import (
	"sync"

	"github.com/deliveryharness/harness/harness/history"
)

// eventBufs holds the event slices of histories given back with Recycle, for later runs to
// record into: a run's history is most of what it allocates, and most histories are read once
// (checked, counted) and dropped.
var eventBufs sync.Pool

// takeEvents returns an empty event slice with room for at least n events.
func takeEvents(n int) []history.Event {
	if b, ok := eventBufs.Get().(*[]history.Event); ok {
		if cap(*b) >= n {
			return (*b)[:0]
		}
	}
	return make([]history.Event, 0, n)
}

// Recycle gives h's events back for later runs. The caller must hold no reference to h.Events
// or a slice of it afterwards (copies of single events are fine); h.Events is set to nil.
func Recycle(h *history.History) {
	if h == nil || h.Backend != "sim" || cap(h.Events) == 0 {
		return
	}
	ev := h.Events
	h.Events = nil
	clear(ev)
	ev = ev[:0]
	eventBufs.Put(&ev)
}
