package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/deliveryharness/harness/strategies"
)

// The dedup window's message store (the dedup-window consumer), as PostgreSQL keeps the table
// dedup_window (consumer, msg_id, seen_at) with its primary key on the pair: a record is a key
// with the time it was seen, in simulated milliseconds. Inserting and deleting a record lock its
// key to the end of the transaction; a second transaction that inserts or deletes the same key
// waits for the first, then sees what it left (PostgreSQL waits on the row, or on the unique
// index entry, the same way).

// windowWrites are a transaction's private writes to the store, applied at commit.
type windowWrites struct {
	forgot []string         // committed records it deleted
	added  map[string]int64 // records it inserted, with their time
}

func windowKey(consumer, id string) string { return "window/" + inboxKey(consumer, id) }

// seen is the time of key's record as t sees it, and whether there is one.
func (t *tx) seen(key string) (int64, bool) {
	if at, ok := t.win.added[key]; ok {
		return at, true
	}
	if slices.Contains(t.win.forgot, key) {
		return 0, false
	}
	at, ok := t.d.window[key]
	return at, ok
}

// WindowForget deletes the consumer's records seen before before: each key in order, locked (a
// concurrent writer of the key is waited for), then looked at again, since that writer may have
// deleted or renewed it.
func (t *tx) WindowForget(_ context.Context, consumer string, before time.Time) (int, error) {
	if err := t.enter(""); err != nil {
		return 0, err
	}
	cut := before.UnixMilli()
	prefix := windowKey(consumer, "")
	var old []string
	for k, at := range t.d.window {
		if strings.HasPrefix(k, prefix) && at < cut && !slices.Contains(t.win.forgot, k) {
			old = append(old, k)
		}
	}
	for k, at := range t.win.added {
		if strings.HasPrefix(k, prefix) && at < cut {
			old = append(old, k)
		}
	}
	slices.Sort(old)
	n := 0
	for _, k := range slices.Compact(old) {
		if err := t.lock(k); err != nil {
			return n, err
		}
		at, ok := t.seen(k)
		if !ok || at >= cut {
			continue
		}
		if _, own := t.win.added[k]; own {
			delete(t.win.added, k)
		}
		if _, ok := t.d.window[k]; ok && !slices.Contains(t.win.forgot, k) {
			t.win.forgot = append(t.win.forgot, k)
		}
		n++
	}
	return n, nil
}

// WindowInsert records the pair at at under its unique key: it waits for a concurrent writer of
// the key, then fails with ErrDuplicateKey if a record is there as t sees it.
func (t *tx) WindowInsert(_ context.Context, consumer, msgID string, at time.Time) error {
	if err := t.enter(""); err != nil {
		return err
	}
	key := windowKey(consumer, msgID)
	if _, ok := t.win.added[key]; ok {
		return t.fail(fmt.Errorf("dedup window %s: %w", msgID, strategies.ErrDuplicateKey))
	}
	if err := t.lock(key); err != nil {
		return err
	}
	if _, ok := t.seen(key); ok {
		return t.fail(fmt.Errorf("dedup window %s: %w", msgID, strategies.ErrDuplicateKey))
	}
	if t.win.added == nil {
		t.win.added = map[string]int64{}
	}
	t.win.added[key] = at.UnixMilli()
	return nil
}

// applyWindow makes the transaction's forgets and inserts visible, at its commit.
func (t *tx) applyWindow() {
	if len(t.win.forgot) == 0 && len(t.win.added) == 0 {
		return
	}
	d := t.d
	if d.window == nil {
		d.window = map[string]int64{}
	}
	for _, k := range t.win.forgot {
		delete(d.window, k)
	}
	for _, k := range sortedKeys(t.win.added) {
		d.window[k] = t.win.added[k]
	}
}
