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

// txs holds transactions of finished runs for later runs: a relay polling an idle outbox begins
// one every few steps.
var txs sync.Pool

// newTx begins a transaction of p's. The world keeps it, to give it back when the run is over.
func (w *world) newTx(p *proc) *tx {
	t, _ := txs.Get().(*tx)
	if t == nil {
		t = new(tx)
	}
	t.d, t.p = w.db, p // values and versions are made on the first write
	w.txs = append(w.txs, t)
	return t
}

// freeTxs gives back every transaction of the run once nothing of it runs any more: its
// processes have been unwound and the strategies' instances are dropped with it.
func (w *world) freeTxs() {
	for _, t := range w.txs {
		rec := t.rec
		rec.Reset()
		*t = tx{rec: rec}
		txs.Put(t)
	}
	w.txs = nil
}
