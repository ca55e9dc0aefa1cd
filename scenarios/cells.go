package scenarios

import (
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// Cells lists every possible cell of the catalogue: workload, then producer, consumer and fault,
// each in catalogue order. Combinations that cannot exist (a relay fault without a relay) are left out.
func Cells() []result.Cell {
	var out []result.Cell
	for _, w := range workload.Names() {
		for _, p := range strategies.Producers() {
			for _, c := range strategies.ConsumerNames() {
				for _, k := range fault.Kinds() {
					if k.Possible(strategies.HasRelay(p)) != nil {
						continue
					}
					out = append(out, result.Cell{Producer: p.Name(), Consumer: c, Workload: w, Fault: k.Name})
				}
			}
		}
	}
	return out
}

// TeamCells lists the cells of a team's registered strategies (strategies.RegisterProducer,
// RegisterConsumer, service.Register): every workload and possible fault for each pairing in
// which at least one side is a team's, in registration order after the built-ins. A registered
// service pairs only with itself: its producer and consumer are one program. The catalogue makes
// no claim about these cells: the team's claim is that every invariant holds (Expected).
func TeamCells() []result.Cell {
	producers := append(strategies.Producers(), strategies.RegisteredProducers()...)
	consumers := append(strategies.Consumers(), strategies.RegisteredConsumers()...)
	builtinP, builtinC := strategies.ProducerNames(), strategies.ConsumerNames()
	var out []result.Cell
	for _, w := range workload.Names() {
		for _, p := range producers {
			for _, c := range consumers {
				if slices.Contains(builtinP, p.Name()) && slices.Contains(builtinC, c.Name()) {
					continue // the catalogue's
				}
				_, pIsService := p.(interface{ RealOnly() error })
				_, cIsService := c.(interface{ RealOnly() error })
				if (pIsService || cIsService) && (!pIsService || !cIsService || p.Name() != c.Name()) {
					continue
				}
				for _, k := range fault.Kinds() {
					if k.Possible(strategies.HasRelay(p)) != nil || pIsService && k.Producers > 1 {
						continue
					}
					out = append(out, result.Cell{Producer: p.Name(), Consumer: c.Name(), Workload: w, Fault: k.Name})
				}
			}
		}
	}
	return out
}

// teamCell reports whether a cell has a team's strategy on either side.
func teamCell(c result.Cell) bool {
	return !slices.Contains(strategies.ProducerNames(), c.Producer) || !slices.Contains(strategies.ConsumerNames(), c.Consumer)
}

// BrokerCells lists a broker's cells (history.Brokers): on RabbitMQ, Cells(); on another broker,
// Cells() on that broker, less the fault kinds it does not have (BrokerFaults). Unknown names
// list none.
func BrokerCells(broker string) []result.Cell {
	if broker == "" || broker == history.BrokerRabbitMQ {
		return Cells()
	}
	if !slices.Contains(history.Brokers(), broker) {
		return nil
	}
	var out []result.Cell
	for _, c := range Cells() {
		if harness.BrokerFault(broker, c.Fault) != nil {
			continue
		}
		c.Broker = broker
		out = append(out, c)
	}
	return out
}

// brokerOf is the Broker a scenario of cell c names: "" on RabbitMQ, so that its scenarios are
// those drawn before there was a choice; an unknown name is an error.
func brokerOf(c result.Cell) (string, error) {
	switch c.Broker {
	case "", history.BrokerRabbitMQ:
		return "", nil
	}
	if !slices.Contains(history.Brokers(), c.Broker) {
		return "", fmt.Errorf("unknown broker %q (brokers: %s)", c.Broker, strings.Join(history.Brokers(), ", "))
	}
	return c.Broker, nil
}
