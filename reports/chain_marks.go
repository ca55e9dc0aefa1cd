package reports

import (
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
)

// The chain workload's marks on a timeline: the middle service's outbox statements that emitted
// a ghost message (no-ghost-message), and those that emitted different messages for one upstream
// message (same-output), each numbered.

type indexedMark struct {
	i    int
	mark Mark
}

// chainMarks are the marks of a chain violation v: on every outbox statement of a consumer
// process that emitted one of its downstream messages (v.Msgs other than v.Key, the upstream
// message).
func chainMarks(events []history.Event, v invariants.Violation) []indexedMark {
	if v.Invariant != invariants.NoGhostMessage && v.Invariant != invariants.SameOutput {
		return nil
	}
	var out []indexedMark
	var ids []string // downstream ids in the order the timeline first emits them
	for i, e := range events {
		if e.Op != history.OpOutbox || e.Outcome != history.OK || history.RoleOf(e.Proc) != history.RoleConsumer ||
			e.Msg == v.Key || !slices.Contains(v.Msgs, e.Msg) {
			continue
		}
		m := Mark{Kind: MarkGhost, Msg: v.Key}
		if v.Invariant == invariants.SameOutput {
			if !slices.Contains(ids, e.Msg) {
				ids = append(ids, e.Msg)
			}
			m = Mark{Kind: MarkOutput, Msg: v.Key, N: slices.Index(ids, e.Msg) + 1}
		}
		out = append(out, indexedMark{i, m})
	}
	return out
}

// chainMarkText is how the marker words a chain mark.
func chainMarkText(m Mark) string {
	if m.Kind == MarkGhost {
		return "ghost: emitted for " + m.Msg + " before its effect committed"
	}
	return fmt.Sprintf("output #%d of %s", m.N, m.Msg)
}
