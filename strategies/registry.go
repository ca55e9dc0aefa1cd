package strategies

import (
	"fmt"
	"strings"
)

// The registry is one explicit list per kind, in catalogue order, so that `simulate list` and the
// matrix are stable. A new strategy is one file plus one line here.
var (
	producers = []Producer{DoubleWrite{}, PublishFirst{}, Outbox{}, LogTailing{}}
	consumers = []Consumer{Naive{}, AckFirst{}, Inbox{}, InboxRacy{}, Natural{}, RedeliveredFlag{}, Versioned{}, IdempotencyKey{}}
)

// Producers returns every producer strategy in catalogue order.
func Producers() []Producer { return append([]Producer(nil), producers...) }

// Consumers returns every consumer strategy in catalogue order.
func Consumers() []Consumer { return append([]Consumer(nil), consumers...) }

// LookupProducer finds a producer strategy by its catalogue name.
func LookupProducer(name string) (Producer, error) {
	for _, p := range producers {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("unknown producer strategy %q (known: %s)", name, strings.Join(ProducerNames(), ", "))
}

// LookupConsumer finds a consumer strategy by its catalogue name.
func LookupConsumer(name string) (Consumer, error) {
	for _, c := range consumers {
		if c.Name() == name {
			return c, nil
		}
	}
	return nil, fmt.Errorf("unknown consumer strategy %q (known: %s)", name, strings.Join(ConsumerNames(), ", "))
}

// ProducerNames lists the producer names in catalogue order.
func ProducerNames() []string {
	out := make([]string, len(producers))
	for i, p := range producers {
		out[i] = p.Name()
	}
	return out
}

// ConsumerNames lists the consumer names in catalogue order.
func ConsumerNames() []string {
	out := make([]string, len(consumers))
	for i, c := range consumers {
		out[i] = c.Name()
	}
	return out
}

// HasRelay reports whether the producer publishes through a background relay.
func HasRelay(p Producer) bool {
	_, ok := p.(Relay)
	return ok
}
