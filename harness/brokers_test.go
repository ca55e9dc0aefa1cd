package harness

import (
	"errors"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// TestValidateBroker: a scenario names a known broker, and a NATS scenario no fault kind that is
// RabbitMQ's alone, neither as its cell's kind nor in its schedule; the refusal is one line.
func TestValidateBroker(t *testing.T) {
	base := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: fault.None, Consumers: 1, Prefetch: 1, Batch: 1,
		Commands: []history.Message{{ID: "order-1", Key: "order-1", Amount: 1, Kind: "OrderPlaced"}}}
	restart := base
	restart.Fault = fault.BrokerRestart
	restart.Faults = []history.Fault{{Kind: fault.BrokerRestart, Nth: 1}}
	inSchedule := base
	inSchedule.Faults = []history.Fault{{Kind: fault.BrokerRestart, Nth: 1}}
	with := func(sc history.Scenario, broker string) history.Scenario { sc.Broker = broker; return sc }
	tests := []struct {
		name  string
		sc    history.Scenario
		wants string // "" for a valid scenario
	}{
		{"rabbitmq by default", base, ""},
		{"nats", with(base, history.BrokerNATS), ""},
		{"broker-restart on rabbitmq", restart, ""},
		{"unknown broker", with(base, "kafka"), `unknown broker "kafka"`},
		{"broker-restart on nats", with(restart, history.BrokerNATS), "broker-restart"},
		{"broker-restart in a nats schedule", with(inSchedule, history.BrokerNATS), "broker-restart"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := Validate(tt.sc)
			switch {
			case tt.wants == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.wants == "":
			case !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.wants) || strings.Contains(err.Error(), "\n"):
				t.Errorf("got %v, want one line of usage error mentioning %q", err, tt.wants)
			}
		})
	}
}
