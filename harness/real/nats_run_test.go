package real

import (
	"context"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// A nats scenario with a fault that has no NATS mechanism here is refused in one line, before
// anything is created on a server (the backend here names none).
func TestNATSRefuses(t *testing.T) {
	for _, tc := range []struct {
		fault string
		want  string
	}{
		{fault.NewSubscriber, "new-subscriber does not run on the nats broker"},
		{fault.BrokerRestart, "broker-restart does not run on the nats broker"},
	} {
		t.Run(tc.fault, func(t *testing.T) {
			sc := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: tc.fault, Seed: 1, Broker: history.BrokerNATS,
				Commands: []history.Message{{ID: "order-1", Key: "order-1", Amount: 10, Seq: 1, Kind: "OrderPlaced"}}, Consumers: 1, Prefetch: 1, Batch: 1}
			_, err := NewBackend(Infra{}).Run(context.Background(), sc, mustProducer(t, sc.Producer), mustConsumer(t, sc.Consumer))
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line with %q", err, tc.want)
			}
		})
	}
}
