// Package harness runs one scenario: it resolves the strategies by name, checks that the
// combination is possible, hands the scenario to a backend (the simulator, or real servers) and
// returns the History with its final reads. Backends implement the strategy ports; recording is
// done by harness/record around them; verdicts are the invariants package's business.
//
// It imports the strategy ports, the history vocabulary, the workloads, the fault kinds and the
// simulator. It
// must not import the real backend (harness/real implements Backend from outside, so that a
// program on the simulator alone links neither pgx nor amqp091), invariants, scenarios, reports
// or cmd.
package harness

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/sim"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// Topology is what a scenario's faults can target: the consumers' link to the mail gateway
// exists where the workload's effect is external.
func Topology(sc history.Scenario, p strategies.Producer) fault.Topology {
	return fault.Topology{Relay: strategies.HasRelay(p), Consumers: sc.Consumers, Gateway: workload.EffectOf(sc.Workload) == workload.External}
}

// ErrUsage marks errors in what the caller asked for (unknown names, impossible combinations),
// as opposed to failures of a run.
var ErrUsage = errors.New("harness: bad scenario")

// Backend runs a scenario with resolved strategies.
type Backend interface {
	Name() string
	Run(ctx context.Context, sc history.Scenario, p strategies.Producer, c strategies.Consumer) (*history.History, error)
}

// Sim is the simulator backend.
type Sim struct{ Config sim.Config }

// NewSim returns the simulator with the catalogue's default timeouts.
func NewSim() *Sim { return &Sim{Config: sim.DefaultConfig()} }

// Name implements Backend.
func (*Sim) Name() string { return "sim" }

// Run implements Backend.
func (s *Sim) Run(_ context.Context, sc history.Scenario, p strategies.Producer, c strategies.Consumer) (*history.History, error) {
	for _, v := range []any{p, c} {
		if r, ok := v.(interface{ RealOnly() error }); ok {
			return nil, fmt.Errorf("%w: %w", ErrUsage, r.RealOnly())
		}
	}
	return sim.Run(sc, p, c, s.Config)
}

// Recycle gives a history's events back to the simulator for later runs to reuse. The caller
// must keep no reference to h.Events (single events copied out are fine); h.Events is nil after.
func (*Sim) Recycle(h *history.History) { sim.Recycle(h) }

// Validate checks a scenario's names and topology; errors wrap ErrUsage.
func Validate(sc history.Scenario) (strategies.Producer, strategies.Consumer, error) {
	p, err := strategies.LookupProducer(sc.Producer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	c, err := strategies.LookupConsumer(sc.Consumer)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if err := ValidateWith(sc, p, c); err != nil {
		return nil, nil, err
	}
	return p, c, nil
}

// ValidateWith checks a scenario for the given strategies, which need not be registered: a team
// checks its own strategy this way.
//
// A strategy whose name is registered to another strategy is refused, never run as the
// registered one.
func ValidateWith(sc history.Scenario, p strategies.Producer, c strategies.Consumer) error {
	if _, err := strategies.ProducerFor(p); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if _, err := strategies.ConsumerFor(c); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if err := ValidateWorkload(sc.Workload); err != nil {
		return err
	}
	k, err := fault.Lookup(sc.Fault)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	if err := ValidateBroker(sc.Broker); err != nil {
		return err
	}
	if err := BrokerFault(sc.BrokerOf(), k.Name); err != nil {
		return err
	}
	if err := k.Possible(strategies.HasRelay(p)); err != nil {
		return fmt.Errorf("%w: %s with %w", ErrUsage, p.Name(), err)
	}
	if _, service := p.(interface{ RealOnly() error }); service && k.Producers > 1 {
		return fmt.Errorf("%w: fault %s runs %d producer processes of a strategy; a service is one program, which service mode runs once", ErrUsage, k.Name, k.Producers)
	}
	if sc.Consumers < k.Consumers {
		return fmt.Errorf("%w: fault %s needs at least %d consumers, got %d", ErrUsage, k.Name, k.Consumers, sc.Consumers)
	}
	if sc.Prefetch < k.Prefetch {
		return fmt.Errorf("%w: fault %s needs a prefetch of at least %d, got %d", ErrUsage, k.Name, k.Prefetch, sc.Prefetch)
	}
	if sc.Consumers > MaxConsumers || sc.Prefetch > MaxPrefetch || sc.Batch > MaxBatch || len(sc.Commands) > MaxCommands {
		return fmt.Errorf("%w: topology out of bounds (at most %d consumers, prefetch %d, batch %d, %d commands)",
			ErrUsage, MaxConsumers, MaxPrefetch, MaxBatch, MaxCommands)
	}
	seen := map[string]bool{}
	for _, m := range sc.Commands {
		if m.ID == "" || seen[m.ID] {
			return fmt.Errorf("%w: commands: empty or repeated id %q", ErrUsage, m.ID)
		}
		seen[m.ID] = true
	}
	topo := Topology(sc, p)
	for _, f := range sc.Faults {
		fk, err := fault.Lookup(f.Kind)
		if err != nil {
			return fmt.Errorf("%w: schedule: %w", ErrUsage, err)
		}
		if err := BrokerFault(sc.BrokerOf(), fk.Name); err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
		if f.Nth < 1 {
			return fmt.Errorf("%w: schedule: fault %s: nth must be 1 or more", ErrUsage, f.Kind)
		}
		targets := fk.Targets(topo)
		if !slices.Contains(targets, f.Target) {
			return fmt.Errorf("%w: schedule: fault %s cannot target %q here (targets: %q)", ErrUsage, f.Kind, f.Target, targets)
		}
		if links := fault.Links(f.Target, topo); fk.OnLink() && !slices.Contains(links, f.Link) {
			return fmt.Errorf("%w: schedule: fault %s on %s needs a link, one of %q (got %q)", ErrUsage, f.Kind, f.Target, links, f.Link)
		} else if !fk.OnLink() && f.Link != "" {
			return fmt.Errorf("%w: schedule: fault %s takes no link (got %q)", ErrUsage, f.Kind, f.Link)
		}
		if fk.AtPoint() {
			points := c.Points()
			switch f.Target {
			case "producer":
				points = p.Points()
			case "relay":
				points = p.(strategies.Relay).RelayPoints()
			}
			if !slices.Contains(points, f.Point) {
				return fmt.Errorf("%w: schedule: %s has no fault point %q (points: %s)", ErrUsage, f.Target, f.Point, strings.Join(points, ", "))
			}
		}
	}
	return nil
}

// Bounds on a scenario's topology, so that a hand-written scenario file cannot ask for a run
// that would not end.
const (
	MaxConsumers = 16
	MaxPrefetch  = 1000
	MaxBatch     = 1000
	MaxCommands  = 100_000
)

// ValidateWorkload checks a workload name.
func ValidateWorkload(name string) error {
	if _, err := workload.Lookup(name); err != nil {
		return fmt.Errorf("%w: %w", ErrUsage, err)
	}
	return nil
}

// RunWith validates the scenario for the given strategies and runs it on the backend.
func RunWith(ctx context.Context, b Backend, sc history.Scenario, p strategies.Producer, c strategies.Consumer) (*history.History, error) {
	if err := ValidateWith(sc, p, c); err != nil {
		return nil, err
	}
	return b.Run(ctx, sc, p, c)
}

// Run validates the scenario and runs it on the backend.
func Run(ctx context.Context, b Backend, sc history.Scenario) (*history.History, error) {
	p, c, err := Validate(sc)
	if err != nil {
		return nil, err
	}
	return b.Run(ctx, sc, p, c)
}
