package result

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestBrokerOfCell: a RabbitMQ cell reads and encodes as it did before there was a choice of
// broker; a NATS cell names its broker in its name and its JSON.
func TestBrokerOfCell(t *testing.T) {
	tests := []struct {
		cell       Cell
		name, json string
		broker     string
	}{
		{Cell{"outbox", "inbox", "orders", "none", ""}, "outbox/inbox/orders/none", `{"producer":"outbox","consumer":"inbox","workload":"orders","fault":"none"}`, "rabbitmq"},
		{Cell{"outbox", "inbox", "orders", "none", "rabbitmq"}, "outbox/inbox/orders/none", `{"producer":"outbox","consumer":"inbox","workload":"orders","fault":"none","broker":"rabbitmq"}`, "rabbitmq"},
		{Cell{"outbox", "inbox", "orders", "none", "nats"}, "outbox/inbox/orders/none@nats", `{"producer":"outbox","consumer":"inbox","workload":"orders","fault":"none","broker":"nats"}`, "nats"},
	}
	for _, tt := range tests {
		if got := tt.cell.String(); got != tt.name {
			t.Errorf("%+v: String %q, want %q", tt.cell, got, tt.name)
		}
		if got := tt.cell.BrokerName(); got != tt.broker {
			t.Errorf("%+v: BrokerName %q, want %q", tt.cell, got, tt.broker)
		}
		b, err := json.Marshal(tt.cell)
		if err != nil || string(b) != tt.json {
			t.Errorf("%+v: JSON %s (%v), want %s", tt.cell, b, err, tt.json)
		}
		r := CellResult{Producer: tt.cell.Producer, Consumer: tt.cell.Consumer, Workload: tt.cell.Workload, Fault: tt.cell.Fault, Broker: tt.cell.Broker}
		if r.Cell() != tt.cell {
			t.Errorf("%+v: a result's cell is %+v", tt.cell, r.Cell())
		}
		b, _ = json.Marshal(r) // a shard's JSON (scenarios.ShardResult)
		if strings.Contains(string(b), `"Broker"`) != (tt.cell.Broker != "") {
			t.Errorf("%+v: a result's JSON %s", tt.cell, b)
		}
	}
}
