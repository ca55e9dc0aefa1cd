package scenariotest_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// lastCommitted is a team's own invariant: strict, it flags the last committed message of every
// run; it counts the histories it judged.
type lastCommitted struct {
	strict bool
	judged *atomic.Int64
}

func (lastCommitted) Name() invariants.Name        { return "team-last-committed" }
func (lastCommitted) Doc() string                  { return "flags the last committed message" }
func (lastCommitted) Applies(workload.Effect) bool { return true }
func (l lastCommitted) Check(h *history.History) []invariants.Violation {
	if l.judged != nil {
		l.judged.Add(1)
	}
	if !l.strict || len(h.Final.Committed) == 0 {
		return nil
	}
	m := h.Final.Committed[len(h.Final.Committed)-1]
	return []invariants.Violation{{Key: m.Key, Msgs: []string{m.ID}, Detail: m.ID + " was committed last"}}
}

// TestFindViolationTeamInvariant: a team's invariant passed to FindViolation is judged beside
// the catalogue's and its break comes back with its name and evidence.
func TestFindViolationTeamInvariant(t *testing.T) {
	cases := []struct {
		name  string
		extra []invariants.Checker
		want  []invariants.Name
	}{
		{"catalogue-only", nil, nil},
		{"team-kept", []invariants.Checker{lastCommitted{}}, nil},
		{"team-broken", []invariants.Checker{lastCommitted{strict: true}}, []invariants.Name{"team-last-committed"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, vs, err := scenariotest.FindViolation(context.Background(), harness.NewSim(), strategies.Outbox{}, strategies.Inbox{},
				workload.Orders.Name, fault.None, 2, c.extra...)
			if err != nil {
				t.Fatal(err)
			}
			got := invariants.Broken(vs)
			if len(got) != len(c.want) || (len(got) > 0 && got[0] != c.want[0]) {
				t.Fatalf("broken %v, want %v", got, c.want)
			}
			if len(vs) > 0 && (h == nil || len(vs[0].Evidence) == 0) {
				t.Errorf("violation %+v without its history or evidence", vs[0])
			}
		})
	}
}

// TestProveJudgesTeamInvariants: Prove with Invariants runs the team's checker on its draws.
func TestProveJudgesTeamInvariants(t *testing.T) {
	var judged atomic.Int64
	scenariotest.Prove(t, strategies.Outbox{}, strategies.Inbox{}, workload.Orders.Name,
		scenariotest.Faults(fault.None), scenariotest.Invariants(lastCommitted{judged: &judged}))
	if judged.Load() == 0 {
		t.Error("the team's invariant judged no history")
	}
}
