package invariants

import (
	"errors"
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/history"
)

// ErrTeamName: a team's invariant has no name, or the name of a catalogue invariant or of another
// of the team's; its breaks could not be told apart from the other's.
var ErrTeamName = errors.New("invariants: a team invariant needs a name of its own")

// Validate checks a team's own invariants before they are used: each needs a name, and no name
// may be a catalogue invariant's (NoDuplicateEffect, ...) or another of extra's. The error wraps
// ErrTeamName and names the invariant at fault; nil checkers are skipped, as CheckWith skips
// them. Prove, scenarios.RunCell and scenarios.RunMatrix call it on what they are given.
func Validate(extra ...Checker) error {
	seen := map[Name]bool{}
	for i, c := range extra {
		if c == nil {
			continue
		}
		name := c.Name()
		switch {
		case name == "":
			return fmt.Errorf("%w: team invariant %d (%T) has no name", ErrTeamName, i+1, c)
		case IsCatalogue(name):
			return fmt.Errorf("%w: team invariant %q is named like the built-in one", ErrTeamName, name)
		case seen[name]:
			return fmt.Errorf("%w: two team invariants are named %q", ErrTeamName, name)
		}
		seen[name] = true
	}
	return nil
}

// CheckWith is Check followed by a team's own invariants: each of extra that applies to h's
// workload runs after the catalogue's, in the order given, and its violations are reported as a
// built-in one's are. A team violation that names messages (Msgs) but carries no Evidence gets
// the events about those messages, in time order, as the catalogue's violations do. Broken lists
// a team's names after the catalogue's, sorted.
//
// CheckWith judges and returns violations only; it does not check names. Call Validate on extra
// first (Prove, scenarios.RunCell and RunMatrix do): a team invariant named like a catalogue one,
// or like another of extra, would have its breaks counted as the other's.
func CheckWith(h *history.History, extra ...Checker) []Violation {
	out := Check(h)
	if h == nil || len(extra) == 0 {
		return out
	}
	s := newState(h)
	defer s.release()
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
