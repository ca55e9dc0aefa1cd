package harness

import (
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// ValidateBroker checks a scenario's broker name (history.Brokers; "" is RabbitMQ); errors wrap
// ErrUsage.
func ValidateBroker(name string) error {
	if name == "" || slices.Contains(history.Brokers(), name) {
		return nil
	}
	return fmt.Errorf("%w: unknown broker %q (brokers: %s)", ErrUsage, name, strings.Join(history.Brokers(), ", "))
}

// BrokerFault reports whether a fault kind exists on a broker; errors wrap ErrUsage. Two kinds
// are RabbitMQ's alone, and a NATS scenario naming either is refused (the real backend refuses
// them too): broker-restart restarts a RabbitMQ node of the run's own, and new-subscriber binds a
// RabbitMQ queue mid-run, so that what was published before never reaches it, where a new
// JetStream consumer may read the stream from its start.
func BrokerFault(broker, kind string) error {
	if why, ok := rabbitOnly[kind]; ok && broker == history.BrokerNATS {
		return fmt.Errorf("%w: fault %s %s; it does not run on broker %s", ErrUsage, kind, why, broker)
	}
	return nil
}

// rabbitOnly are the fault kinds that run on RabbitMQ alone, and why they do not on NATS.
var rabbitOnly = map[string]string{
	fault.BrokerRestart: "restarts a RabbitMQ node",
	fault.NewSubscriber: "binds a RabbitMQ queue mid-run",
}
