package invariants

import (
	"fmt"

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
		detail := fmt.Sprintf("%s %s %s%s (%s for %s: %d)", id, s.words.Applied, times(n), s.to(key), s.words.Rows, id, n)
		out = append(out, s.violation(c.Name(), key, []string{id}, detail))
	}
	sortViolations(out)
	return out
}

// noLostEffect: every committed message has an effect row.
type noLostEffect struct{}

// Name implements Checker.
func (noLostEffect) Name() Name { return NoLostEffect }

// Doc implements Checker.
func (noLostEffect) Doc() string {
	return "every committed message has at least one effect row (no order left unpaid); for set-state events, every key's latest committed change"
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
		if len(s.effects[m.ID]) > 0 {
			continue
		}
		if l, ok := latest[m.Key]; ok && l.ID != m.ID {
			continue
		}
		detail := fmt.Sprintf("%s committed but never %s%s (%s for %s: 0)", m.ID, s.words.Applied, s.to(m.Key), s.words.Rows, m.ID)
		out = append(out, s.violation(c.Name(), m.Key, []string{m.ID}, detail))
	}
	sortViolations(out)
	return out
}

// noPhantomEffect: every effect row belongs to a committed message.
type noPhantomEffect struct{}

// Name implements Checker.
func (noPhantomEffect) Name() Name { return NoPhantomEffect }

// Doc implements Checker.
func (noPhantomEffect) Doc() string {
	return "every effect row belongs to a committed message (no payment for an order that was never placed)"
}

// Applies implements Checker: every effect kind.
func (noPhantomEffect) Applies(effect workload.Effect) bool { return effect != "" }

// Check implements Checker.
func (c noPhantomEffect) Check(h *history.History) []Violation { return check(c, h) }

func (c noPhantomEffect) run(s *state) []Violation {
	var out []Violation
	for _, id := range s.effectIDs {
		if _, ok := s.committed[id]; ok {
			continue
		}
		rows := s.effects[id]
		key := rows[0].Key
		detail := fmt.Sprintf("%s %s %s%s but never committed (%s for %s: %d, committed rows: 0)", id, s.words.Applied, times(len(rows)), s.to(key), s.words.Rows, id, len(rows))
		out = append(out, s.violation(c.Name(), key, []string{id}, detail))
	}
	sortViolations(out)
	return out
}
