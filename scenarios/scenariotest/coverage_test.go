package scenariotest

import (
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/strategies"
)

// TestUnreached: what Prove logs after its draws names, per role, the declared points no draw
// passed, and nothing when every declared point was passed.
func TestUnreached(t *testing.T) {
	outbox, inbox := strategies.Outbox{}, strategies.Inbox{}
	var all []history.Reach
	for _, p := range outbox.Points() {
		all = append(all, history.Reach{Role: history.RoleProducer, Point: p})
	}
	for _, p := range outbox.RelayPoints() {
		all = append(all, history.Reach{Role: history.RoleRelay, Point: p})
	}
	for _, p := range inbox.Points() {
		all = append(all, history.Reach{Role: history.RoleConsumer, Point: p})
	}
	for _, tc := range []struct {
		name    string
		reached []history.Reach
		want    string
	}{
		{"every point", all, ""},
		{"no relay point, one consumer point", slices.Concat(all[:len(outbox.Points())], all[len(all)-1:]),
			"relay: " + joined(outbox.RelayPoints()) + "; consumer: " + joined(inbox.Points()[:len(inbox.Points())-1])},
		{"a point of another role does not count", []history.Reach{{Role: history.RoleProducer, Point: strategies.PointConsumerAfterEffect}},
			"producer: " + joined(outbox.Points()) + "; relay: " + joined(outbox.RelayPoints()) + "; consumer: " + joined(inbox.Points())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := unreached(scenarios.Coverage(outbox, inbox, tc.reached)); got != tc.want {
				t.Errorf("unreached = %q, want %q", got, tc.want)
			}
		})
	}
}

func joined(points []string) string { return strings.Join(points, ", ") }
