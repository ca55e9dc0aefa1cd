package reports

import (
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios/result"
)

// onBroker is what a cell's title adds for its broker: nothing for RabbitMQ (every report of a
// RabbitMQ run reads as it did before there was a choice), " on nats" for NATS JetStream.
func onBroker(broker string) string {
	if broker == "" || broker == history.BrokerRabbitMQ {
		return ""
	}
	return " on " + broker
}

// brokersSummary names the brokers of results other than RabbitMQ, for the summary line: ""
// when every result ran on RabbitMQ.
func brokersSummary(results []result.CellResult) string {
	var other []string
	rabbit := false
	for _, r := range results {
		switch b := r.Broker; {
		case b == "" || b == history.BrokerRabbitMQ:
			rabbit = true
		case !slices.Contains(other, b):
			other = append(other, b)
		}
	}
	switch {
	case len(other) == 0:
		return ""
	case rabbit:
		return fmt.Sprintf("brokers %s, %s", history.BrokerRabbitMQ, strings.Join(other, ", "))
	case len(other) == 1:
		return "broker " + other[0]
	}
	return "brokers " + strings.Join(other, ", ")
}

// atBroker is what a row label adds for its broker: nothing for RabbitMQ, "@nats" for NATS, so
// that a matrix of both brokers keeps their rows apart.
func atBroker(broker string) string {
	if s := onBroker(broker); s != "" {
		return "@" + broker
	}
	return ""
}

// brokerFlag is the flag a replay by seed or schedule needs to draw on the scenario's broker:
// none for RabbitMQ (a scenario file names its broker itself).
func brokerFlag(broker string) string {
	if onBroker(broker) == "" {
		return ""
	}
	return " --broker " + broker
}
