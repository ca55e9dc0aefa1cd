package invariants

import (
	"fmt"
	"sort"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

// converges: every product's final price is the price of its latest committed change.
type converges struct{}

// Name implements Checker.
func (converges) Name() Name { return Converges }

// Doc implements Checker.
func (converges) Doc() string {
	return "every product's final price is the price of its latest committed change (highest seq)"
}

// Applies implements Checker: where the effect sets a value.
func (converges) Applies(effect workload.Effect) bool { return effect == workload.Set }

// Check implements Checker.
func (c converges) Check(h *history.History) []Violation { return check(c, h) }

func (c converges) run(s *state) []Violation {
	latest := latestByKey(s.commits)
	keys := make([]string, 0, len(s.valueKey))
	for _, m := range s.commits {
		if latest[m.Key].ID == m.ID {
			keys = append(keys, m.Key)
		}
	}
	for _, k := range s.valueKey {
		if _, ok := latest[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)

	var byKey map[string][]history.Effect // effect rows by key, built on first mismatch
	var out []Violation
	for _, key := range keys {
		want, hasWant := latest[key]
		got, hasGot := s.values[key]
		if hasWant && hasGot && got == want.Amount {
			continue
		}
		var msgs []string
		var b strings.Builder
		b.WriteString(key)
		if hasGot {
			if byKey == nil {
				byKey = make(map[string][]history.Effect)
				for _, e := range s.h.Final.Effects {
					byKey[e.Key] = append(byKey[e.Key], e)
				}
			}
			from := c.sources(s, byKey[key], key, got)
			msgs = append(msgs, from...)
			fmt.Fprintf(&b, " price %d", got)
			if len(from) > 0 {
				fmt.Fprintf(&b, " from %s", strings.Join(from, " or "))
			} else {
				b.WriteString(" (no change set it)")
			}
		} else {
			b.WriteString(" has no price")
		}
		if hasWant {
			msgs = append(msgs, want.ID)
			fmt.Fprintf(&b, ", expected %d from %s (seq %d)", want.Amount, want.ID, want.Seq)
		} else {
			fmt.Fprintf(&b, ", but no change to %s committed", key)
		}
		out = append(out, s.violation(c.Name(), key, msgs, b.String()))
	}
	sortViolations(out)
	return out
}

// sources names the messages that could have left value on key: the effect rows that wrote it,
// else the committed changes that carried it. Sorted, each once.
func (converges) sources(s *state, effects []history.Effect, key string, value int64) []string {
	var ids []string
	for _, e := range effects {
		if e.Amount == value {
			ids = append(ids, e.Msg)
		}
	}
	if len(ids) == 0 {
		for _, m := range s.commits {
			if m.Key == key && m.Amount == value {
				ids = append(ids, m.ID)
			}
		}
	}
	return sortedSet(ids)
}

// latestByKey is each key's latest committed change: highest Seq; on a tie, the later commit.
func latestByKey(commits []history.Message) map[string]history.Message {
	latest := make(map[string]history.Message)
	for _, m := range commits {
		if best, ok := latest[m.Key]; !ok || m.Seq >= best.Seq {
			latest[m.Key] = m
		}
	}
	return latest
}
