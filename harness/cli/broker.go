package cli

// The broker a command's scenarios run against: --broker rabbitmq|nats.

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
)

// brokerDocs says what each broker does differently, for `simulate list`.
var brokerDocs = map[string]string{
	history.BrokerRabbitMQ: "the default: publisher confirms; a closed channel's unacknowledged deliveries are requeued at once, flagged redelivered",
	history.BrokerNATS:     "NATS JetStream: the message id as Nats-Msg-Id, and the stream drops a repeat within its duplicate window (3 s); explicit acks; an unacknowledged delivery comes back after the ack wait (500 ms), not when its connection closes; no broker-restart or new-subscriber",
}

// brokerName is the broker the flags name: RabbitMQ where none is named.
func (c *common) brokerName() string {
	if c.broker == "" {
		return history.BrokerRabbitMQ
	}
	return c.broker
}

// cellBroker is the broker as a cell and its scenarios name it: "" for RabbitMQ, so that every
// output of a RabbitMQ run is what it was before there was a choice.
func (c *common) cellBroker() string {
	if b := c.brokerName(); b != history.BrokerRabbitMQ {
		return b
	}
	return ""
}

// validateBroker checks --broker, and that the fault named exists on it.
func (c *common) validateBroker() error {
	if !slices.Contains(history.Brokers(), c.brokerName()) {
		return usagef("unknown --broker %q (%s)", c.broker, strings.Join(history.Brokers(), ", "))
	}
	if c.fault != "" {
		if err := harness.BrokerFault(c.brokerName(), c.fault); err != nil {
			return usageOr(err)
		}
	}
	return nil
}

// writeBrokerList lists the brokers for `simulate list`.
func writeBrokerList(w io.Writer) {
	fmt.Fprintln(w, "\nbrokers (--broker):")
	for _, b := range history.Brokers() {
		fmt.Fprintf(w, "  %-10s %s\n", b, brokerDocs[b])
	}
}
