package invariants

import (
	"fmt"
	"sort"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

// balance: every account's balance is the sum of its distinct committed credits.
type balance struct{}

// Name implements Checker.
func (balance) Name() Name { return Balance }

// Doc implements Checker.
func (balance) Doc() string {
	return "every account's balance is the sum of its distinct committed credits"
}

// Applies implements Checker: where the effect adds to a balance.
func (balance) Applies(effect workload.Effect) bool { return effect == workload.Add }

// Check implements Checker.
func (c balance) Check(h *history.History) []Violation { return check(c, h) }

func (c balance) run(s *state) []Violation {
	credits := make(map[string][]history.Message) // distinct committed credits by account
	want := make(map[string]int64)
	keys := make([]string, 0, len(s.valueKey))
	for _, m := range s.commits {
		if _, ok := credits[m.Key]; !ok {
			keys = append(keys, m.Key)
		}
		credits[m.Key] = append(credits[m.Key], m)
		want[m.Key] += m.Amount
	}
	for _, k := range s.valueKey {
		if _, ok := credits[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)

	// The effect rows no committed credit of their account explains, by account, built on first
	// mismatch: uncommitted credits, and committed ones booked on another account.
	var phantoms map[string][]string
	var out []Violation
	for _, key := range keys {
		got, hasGot := s.values[key]
		if got == want[key] {
			continue
		}
		if phantoms == nil {
			phantoms = make(map[string][]string)
			for _, id := range s.effectIDs {
				m, ok := s.committed[id]
				if !ok {
					k := s.effects[id][0].Key
					phantoms[k] = append(phantoms[k], id)
					continue
				}
				for _, k := range misplaced(s.effects[id], m) {
					phantoms[k] = append(phantoms[k], id)
				}
			}
		}
		type reason struct{ id, text string }
		var reasons []reason
		for _, m := range credits[key] {
			if r := c.explain(s, m); r != "" {
				reasons = append(reasons, reason{m.ID, r})
			}
		}
		for _, id := range phantoms[key] {
			if m, ok := s.committed[id]; ok {
				n := 0
				for _, e := range s.effects[id] {
					if e.Key == key {
						n++
					}
				}
				reasons = append(reasons, reason{id, fmt.Sprintf("%s applied %s here but committed to %s", id, times(n), m.Key)})
				continue
			}
			reasons = append(reasons, reason{id, fmt.Sprintf("%s applied %s but never committed", id, times(len(s.effects[id])))})
		}
		sort.Slice(reasons, func(i, j int) bool { return reasons[i].id < reasons[j].id })

		var b strings.Builder
		if hasGot {
			fmt.Fprintf(&b, "%s balance %d", key, got)
		} else {
			fmt.Fprintf(&b, "%s balance 0 (no row)", key)
		}
		if _, ok := credits[key]; ok {
			fmt.Fprintf(&b, ", committed credits sum to %d", want[key])
		} else {
			fmt.Fprintf(&b, ", but no credit to %s committed", key)
		}
		msgs := make([]string, 0, len(reasons))
		if len(reasons) == 0 {
			b.WriteString(" (no effect row explains the difference)")
		} else {
			b.WriteString(" (")
			for i, r := range reasons {
				if i > 0 {
					b.WriteString("; ")
				}
				b.WriteString(r.text)
				msgs = append(msgs, r.id)
			}
			b.WriteString(")")
		}
		out = append(out, s.violation(c.Name(), key, msgs, b.String()))
	}
	sortViolations(out)
	return out
}

// explain says how committed credit m's effect rows on its own account depart from one row of
// its amount, or "".
func (balance) explain(s *state, m history.Message) string {
	all := s.effects[m.ID]
	if len(all) == 0 {
		return m.ID + " never applied"
	}
	rows := make([]history.Effect, 0, len(all))
	for _, e := range all {
		if e.Key == m.Key {
			rows = append(rows, e)
		}
	}
	if len(rows) == 0 {
		return fmt.Sprintf("%s applied to %s, not %s", m.ID, strings.Join(misplaced(all, m), " and "), m.Key)
	}
	text := ""
	if len(rows) > 1 {
		text = m.ID + " applied " + times(len(rows))
	}
	for _, e := range rows {
		if e.Amount != m.Amount {
			if text == "" {
				text = m.ID + " applied"
			} else {
				text += ","
			}
			text += fmt.Sprintf(" as %d (committed %d)", e.Amount, m.Amount)
			break
		}
	}
	return text
}

// misplaced lists the accounts other than committed credit m's own that rows (m's effect rows)
// were booked on, sorted, each once.
func misplaced(rows []history.Effect, m history.Message) []string {
	var keys []string
	for _, e := range rows {
		if e.Key != m.Key {
			keys = append(keys, e.Key)
		}
	}
	return sortedSet(keys)
}
