package workload

import (
	"fmt"
	"strings"
)

// Effect is what applying one event of a workload does: the backends implement each kind, the
// invariants and the catalogue of expected outcomes are chosen by it.
type Effect string

// Effect kinds.
const (
	// Append writes a new effect row per event applied: applying one twice writes two (a payment).
	Append Effect = "append"
	// Add writes a ledger row and adds the event's amount to its key's balance (a credit).
	Add Effect = "add"
	// Set writes a row and sets its key's value to the event's amount: applying one twice is
	// harmless, applying two out of order is not (a price). Its events carry versions.
	Set Effect = "set"
	// External calls a service outside the database (the mail gateway), which keeps the
	// idempotency keys it is given: a rollback does not undo the call.
	External Effect = "external"
)

// Workload is one workload of the catalogue.
type Workload struct {
	Name   string // catalogue name: orders, credits, prices, emails
	Doc    string // one line: the event and its effect
	Effect Effect
	Event  string // the events' kind: OrderPlaced, AccountCredited, ...
	Words  Words
	// Downstream is the event the consumer emits in turn for each event it applies, from its
	// own outbox in the effect's transaction (Output): ShipmentRequested for the chain; empty
	// for a workload whose consumer emits nothing.
	Downstream string

	// command is the i-th command (1-based) of a scenario with keys business keys: its id, key
	// and amount. Amounts are distinct, so that a repeated, missing or stale effect always shows
	// in the final state.
	command func(src Source, i, keys int) Command
}

// Words are how the checkers' details, the reports and the demo speak of a workload.
type Words struct {
	Command string // one command, singular: "order" (a plural adds "s")
	Applied string // what applying an event did, a past participle: "paid"
	Rows    string // the effect rows, plural: "payments"
	// NamesKey: say which key an effect went to ("credited 2 times to acct-A"); false where the
	// key is the event's own id (an order).
	NamesKey bool
}

// Source is where a generator's choices come from (scenarios.Source): a seeded PRNG, or rapid's
// draws so that a failure shrinks.
type Source interface {
	// IntRange returns a number in [lo, hi]; smaller is simpler.
	IntRange(label string, lo, hi int) int
}

// Command is one business command as a workload makes it: the fields of a history.Message.
type Command struct {
	ID     string // event id = message id: order-1
	Key    string // business key: the order, the account, the product
	Amount int64
	Seq    int64  // the key's version: 1, 2, ... in command order
	Kind   string // the workload's Event
}

// Commands makes n commands over at most keys business keys (for workloads whose events share
// keys), drawing from src. Every command carries its key's version (1, 2, ... in command order),
// as an event-sourced aggregate's sequence number would: the versioned consumer compares it.
func (w Workload) Commands(src Source, n, keys int) []Command {
	out := make([]Command, 0, n)
	seq := map[string]int64{}
	for i := 1; i <= n; i++ {
		var c Command
		if w.command != nil {
			c = w.command(src, i, keys)
			c.Kind = w.Event
		}
		seq[c.Key]++
		c.Seq = seq[c.Key]
		out = append(out, c)
	}
	return out
}

// catalogue is the list of workloads in catalogue order. A new workload is one file plus one
// entry here.
var catalogue = []*Workload{&Orders, &Credits, &Prices, &Emails, &Chain}

// All returns every workload in catalogue order.
func All() []Workload {
	out := make([]Workload, len(catalogue))
	for i, w := range catalogue {
		out[i] = *w
	}
	return out
}

// Names lists the workload names in catalogue order.
func Names() []string {
	out := make([]string, len(catalogue))
	for i, w := range catalogue {
		out[i] = w.Name
	}
	return out
}

// Lookup finds a workload by its catalogue name.
func Lookup(name string) (Workload, error) {
	for _, w := range catalogue {
		if w.Name == name {
			return *w, nil
		}
	}
	return Workload{}, fmt.Errorf("unknown workload %q (known: %s)", name, strings.Join(Names(), ", "))
}

// EffectOf is the effect kind of the named workload; "" for a name outside the catalogue.
func EffectOf(name string) Effect {
	w, _ := Lookup(name)
	return w.Effect
}
