package invariants

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

// noDuplicateEffect: a message has at most one effect row.
type noDuplicateEffect struct{}

// Name implements Checker.
func (noDuplicateEffect) Name() Name { return NoDuplicateEffect }

// Doc implements Checker.
func (noDuplicateEffect) Doc() string {
	return "no message has more than one effect (no order paid twice, no credit applied twice, no welcome email sent twice)"
}

// Applies implements Checker: not where the effect sets a value, since setting the same price
// again is harmless.
func (noDuplicateEffect) Applies(effect workload.Effect) bool {
	return effect == workload.Append || effect == workload.Add || effect == workload.External
}

// Check implements Checker.
func (c noDuplicateEffect) Check(h *history.History) []Violation { return check(c, h) }

func (c noDuplicateEffect) run(s *state) []Violation {
	var out []Violation
	for _, id := range s.effectIDs {
		n := len(s.effects[id])
		if n < 2 {
			continue
		}
		key := s.keyOf(id)
		detail := fmt.Sprintf("%s %s %s%s (%s for %s: %d)", id, s.words.Applied, times(n), s.onRows(key, s.effects[id]), s.words.Rows, id, n)
		out = append(out, s.violation(c.Name(), key, []string{id}, detail))
	}
	sortViolations(out)
	return out
}

// noLostEffect: every committed message has an effect row as committed: its message id, its key
// and its amount.
type noLostEffect struct{}

// Name implements Checker.
func (noLostEffect) Name() Name { return NoLostEffect }

// Doc implements Checker.
func (noLostEffect) Doc() string {
	return "every committed message has at least one effect row with its key and amount (no order left unpaid, none paid only on another order or for another amount); for set-state events, every key's latest committed change"
}

// Applies implements Checker: every effect kind.
func (noLostEffect) Applies(effect workload.Effect) bool { return effect != "" }

// Check implements Checker.
func (c noLostEffect) Check(h *history.History) []Violation { return check(c, h) }

func (c noLostEffect) run(s *state) []Violation {
	// A set-state event that a newer committed change of its key overtook owes no effect: a
	// consumer that skips it (versioned) is right to. The latest change per key still does.
	var latest map[string]history.Message
	if s.effect == workload.Set {
		latest = latestByKey(s.commits)
	}
	var out []Violation
	for _, m := range s.commits {
		rows := s.effects[m.ID]
		if slices.ContainsFunc(rows, func(e history.Effect) bool { return asCommitted(m, e) }) {
			continue
		}
		if l, ok := latest[m.Key]; ok && l.ID != m.ID {
			continue
		}
		var detail string
		if len(rows) == 0 {
			detail = fmt.Sprintf("%s committed but never %s%s (%s for %s: 0)", m.ID, s.words.Applied, s.to(m.Key), s.words.Rows, m.ID)
		} else {
			// Its rows went to another key or carry another amount: no-phantom-effect names them.
			detail = fmt.Sprintf("%s committed on %s for %d but never %s as committed (%s for %s: %d, as committed: 0)",
				m.ID, m.Key, m.Amount, s.words.Applied, s.words.Rows, m.ID, len(rows))
		}
		out = append(out, s.violation(c.Name(), m.Key, []string{m.ID}, detail))
	}
	sortViolations(out)
	return out
}

// noPhantomEffect: every effect row belongs to a committed message: one of its message id, with
// its key and its amount. A row that carries a committed message's id but lands on another key,
// or books another amount, is an effect no committed transaction asked for.
type noPhantomEffect struct{}

// Name implements Checker.
func (noPhantomEffect) Name() Name { return NoPhantomEffect }

// Doc implements Checker.
func (noPhantomEffect) Doc() string {
	return "every effect row belongs to a committed message, with its key and amount (no payment for an order that was never placed, none booked on another order or for another amount)"
}

// Applies implements Checker: every effect kind.
func (noPhantomEffect) Applies(effect workload.Effect) bool { return effect != "" }

// Check implements Checker.
func (c noPhantomEffect) Check(h *history.History) []Violation { return check(c, h) }

func (c noPhantomEffect) run(s *state) []Violation {
	var out []Violation
	for _, id := range s.effectIDs {
		rows := s.effects[id]
		m, ok := s.committed[id]
		if !ok {
			key := rows[0].Key
			detail := fmt.Sprintf("%s %s %s%s but never committed (%s for %s: %d, committed rows: 0)", id, s.words.Applied, times(len(rows)), s.to(key), s.words.Rows, id, len(rows))
			out = append(out, s.violation(c.Name(), key, []string{id}, detail))
			continue
		}
		// Committed: the rows that are not as committed, one violation per key they landed on.
		amounts := make(map[string][]int64) // by the key a row landed on
		var keys []string
		matching := 0
		for _, e := range rows {
			if asCommitted(m, e) {
				matching++
				continue
			}
			if _, seen := amounts[e.Key]; !seen {
				keys = append(keys, e.Key)
			}
			amounts[e.Key] = append(amounts[e.Key], e.Amount)
		}
		for _, key := range keys {
			a := amounts[key]
			detail := fmt.Sprintf("%s %s %s on %s for %s, but committed on %s for %d (%s for %s: %d, as committed: %d)",
				id, s.words.Applied, times(len(a)), key, amountList(a), m.Key, m.Amount, s.words.Rows, id, len(rows), matching)
			out = append(out, s.violation(c.Name(), key, []string{id}, detail))
		}
	}
	sortViolations(out)
	return out
}

// onRows says where rows (one message's effect rows) went: s.to(key) when all are on key, else
// " on " and their keys ("on acct-A and acct-B"), whatever the workload's words.
func (s *state) onRows(key string, rows []history.Effect) string {
	keys := make([]string, len(rows))
	for i, e := range rows {
		keys[i] = e.Key
	}
	keys = sortedSet(keys)
	if len(keys) == 0 || len(keys) == 1 && keys[0] == key {
		return s.to(key)
	}
	return " on " + strings.Join(keys, " and ")
}

// asCommitted reports whether effect row e is what committed message m asked for: m's message id,
// key and amount. An effect row carries what its consumer applied (history.Effect), so a row on
// another key or of another amount departs from the command, whatever its message id says.
func asCommitted(m history.Message, e history.Effect) bool {
	return e.Msg == m.ID && e.Key == m.Key && e.Amount == m.Amount
}

// amountList renders the distinct amounts of some effect rows, ascending: "10", "10 and 20".
func amountList(amounts []int64) string {
	a := slices.Clone(amounts)
	slices.Sort(a)
	a = slices.Compact(a)
	parts := make([]string, len(a))
	for i, v := range a {
		parts[i] = strconv.FormatInt(v, 10)
	}
	return strings.Join(parts, " and ")
}
