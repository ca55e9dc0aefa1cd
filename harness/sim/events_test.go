package sim

import (
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// TestEventFields: the broker's and the gateway's events carry the processes and the defence they
// are about as fields, and their details say the same in words.
func TestEventFields(t *testing.T) {
	scs := determinismScenarios()
	emails := scenario("outbox", "idempotency-key", "emails", []history.Message{{ID: "signup-1", Key: "user-1", Kind: "UserRegistered"}},
		history.Fault{Kind: fault.CrashConsumer, Target: fault.ConsumerName(1), Point: strategies.PointConsumerBeforeCommit, Nth: 1})
	scs["outbox-idempotency-key-emails-crash-consumer"] = emails
	seen := map[string]bool{}
	for name, sc := range scs {
		h := run(t, sc)
		for i, e := range h.Events {
			bad := false
			switch e.Op {
			case history.OpDeliver:
				want := "to " + e.To
				if e.Redelivered {
					want += ", redelivered"
				}
				bad = e.To == "" || e.Detail != want
			case history.OpEnqueue:
				bad = e.From == "" || e.Detail != "from "+e.From
			case history.OpRequeue:
				bad = e.From == "" || !strings.Contains(e.Detail, e.From)
			case history.OpSend:
				bad = !strings.HasPrefix(e.From, "consumer-") || (e.Guard == history.GuardKey) != strings.HasSuffix(e.Detail, " dropped")
			default:
				continue
			}
			seen[e.Op] = true
			if e.Guard == history.GuardKey {
				seen["dropped"] = true
			}
			if bad {
				t.Errorf("%s: event %d: %+v", name, i, e)
			}
		}
	}
	for _, op := range []string{history.OpDeliver, history.OpEnqueue, history.OpRequeue, history.OpSend, "dropped"} {
		if !seen[op] {
			t.Errorf("no scenario recorded a %s", op)
		}
	}
}
