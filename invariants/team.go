package invariants

import (
	"slices"

	"github.com/deliveryharness/harness/harness/history"
)

// CheckWith is Check followed by a team's own invariants: each of extra that applies to h's
// workload runs after the catalogue's, in the order given, and its violations are reported as a
// built-in one's are. A team violation that names messages (Msgs) but carries no Evidence gets
// the events about those messages, in time order, as the catalogue's violations do. Broken lists
// a team's names after the catalogue's, sorted; a team invariant should not reuse a catalogue
// name, or its breaks count as the catalogue's.
func CheckWith(h *history.History, extra ...Checker) []Violation {
	out := Check(h)
	if h == nil || len(extra) == 0 {
		return out
	}
	s := newState(h)
	for _, c := range extra {
		if c == nil || !c.Applies(s.effect) {
			continue
		}
		for _, v := range c.Check(h) {
			if v.Invariant == "" {
				v.Invariant = c.Name()
			}
			if v.Evidence == nil && len(v.Msgs) > 0 {
				msgs := slices.Clone(v.Msgs)
				slices.Sort(msgs)
				v.Evidence = s.evidence(slices.Compact(msgs))
			}
			out = append(out, v)
		}
	}
	return out
}

// IsCatalogue reports whether name is an invariant of the catalogue, not a team's own.
func IsCatalogue(name Name) bool {
	return slices.Contains(Names(), name)
}
