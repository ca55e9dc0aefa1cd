package service

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/strategies"
)

// The protocol points: where the harness's toxics see a process's traffic, named like fault
// points so that a crash fault can fire there without a line of the service's code.
const (
	// PointCommit: right after the server's reply to a COMMIT (CommandComplete "COMMIT" and the
	// ReadyForQuery after it) has passed to the process, on its PostgreSQL link.
	PointCommit = "pg.commit"
	// PointPublish: right after a basic.publish and its content have passed to the broker.
	PointPublish = "amqp.publish"
	// PointConfirm: right after a publisher confirm (the broker's basic.ack) has passed to the
	// process.
	PointConfirm = "amqp.confirm"
	// PointDeliver: right after a basic.deliver and its content have passed to the consumer.
	PointDeliver = "amqp.deliver"
	// PointAck: right after a consumer's basic.ack has passed to the broker.
	PointAck = "amqp.ack"
)

// ProtocolPoints lists the protocol points of a process: producer, relay or consumer; relay says
// whether the service has a relay (then the producer does not publish).
func ProtocolPoints(proc string, relay bool) []string {
	switch proc {
	case "producer":
		if relay {
			return []string{PointCommit}
		}
		return []string{PointCommit, PointPublish, PointConfirm}
	case "relay":
		return []string{PointCommit, PointPublish, PointConfirm}
	}
	return []string{PointDeliver, PointCommit, PointAck}
}

// ErrRealOnly: a service runs on real servers only; the simulator has no model of its code.
var ErrRealOnly = errors.New("service mode runs on real servers only (the simulator cannot run a team's own driver code)")

// Strategy is the producer and the consumer a registered service stands as in the harness's
// scenarios, matrix, reports and replay: its name, its points (the protocol points and its own),
// and its topology (a relay or not). They run nothing themselves: the real backend runs the
// service (Service) in their place, and the simulator refuses them (ErrRealOnly).
type Strategy struct {
	name   string
	doc    string
	points Points
	relay  bool
}

// Of returns the Strategy a value stands for, when it is a service's producer or consumer.
func Of(v any) (*Strategy, bool) {
	switch s := v.(type) {
	case *producer:
		return s.Strategy, true
	case *relayProducer:
		return s.Strategy, true
	case *consumer:
		return s.Strategy, true
	}
	return nil, false
}

// Name is the service's registered name.
func (s *Strategy) Name() string { return s.name }

// New builds the service for one process.
func (s *Strategy) New() (Service, error) {
	fn, err := Lookup(s.name)
	if err != nil {
		return nil, err
	}
	return fn(), nil
}

// HasRelay reports whether the service has a relay process.
func (s *Strategy) HasRelay() bool { return s.relay }

// Declared lists the service's own fault points of a process (producer, relay, consumer-N).
func (s *Strategy) Declared(proc string) []string {
	switch proc {
	case "producer":
		return s.points.Producer
	case "relay":
		return s.points.Relay
	}
	return s.points.Consumer
}

// RealOnly says why the simulator cannot run it.
func (s *Strategy) RealOnly() error { return fmt.Errorf("%s: %w", s.name, ErrRealOnly) }

func (s *Strategy) Doc() string { return s.doc }

func (s *Strategy) pointsOf(proc string) []string {
	return append(ProtocolPoints(proc, s.relay), s.Declared(proc)...)
}

type producer struct{ *Strategy }

func (p *producer) Points() []string { return p.pointsOf("producer") }
func (p *producer) Produce(context.Context, strategies.ProducerEnv, strategies.Message) error {
	return p.RealOnly()
}

type relayProducer struct{ producer }

func (p *relayProducer) RelayPoints() []string { return p.pointsOf("relay") }
func (p *relayProducer) RelayPass(context.Context, strategies.RelayEnv) (int, error) {
	return 0, p.RealOnly()
}

type consumer struct{ *Strategy }

func (c *consumer) Points() []string { return c.pointsOf("consumer-1") }
func (c *consumer) Handle(context.Context, strategies.ConsumerEnv, strategies.Delivery) error {
	return c.RealOnly()
}

// strategyOf describes a service for the harness, from one instance.
func strategyOf(name string, svc Service) *Strategy {
	s := &Strategy{name: name, doc: "a team's service (service mode)"}
	if d, ok := svc.(Documented); ok {
		s.doc = d.Doc()
	}
	if p, ok := svc.(Pointer); ok {
		s.points = p.Points()
	}
	_, s.relay = svc.(Relayer)
	return s
}

// registerStrategies registers the producer and the consumer a service stands as.
func registerStrategies(name string, fn New) error {
	s := strategyOf(name, fn())
	all := slices.Concat(ProtocolPoints("producer", s.relay), ProtocolPoints("relay", s.relay), ProtocolPoints("consumer-1", s.relay))
	for _, p := range slices.Concat(s.points.Producer, s.points.Relay, s.points.Consumer) {
		if slices.Contains(all, p) {
			return fmt.Errorf("point %q is a protocol point's name", p)
		}
	}
	// Both names are checked before either is taken, so that a refusal registers nothing.
	if _, err := strategies.LookupProducer(name); err == nil {
		return fmt.Errorf("%w: producer name %q is taken", strategies.ErrRegistration, name)
	}
	if _, err := strategies.LookupConsumer(name); err == nil {
		return fmt.Errorf("%w: consumer name %q is taken", strategies.ErrRegistration, name)
	}
	newProducer := func() strategies.Producer {
		if s.relay {
			return &relayProducer{producer{s}}
		}
		return &producer{s}
	}
	if err := strategies.RegisterProducer(name, newProducer); err != nil {
		return err
	}
	return strategies.RegisterConsumer(name, func() strategies.Consumer { return &consumer{s} })
}

func init() { hook = registerStrategies }

// Strategies returns the producer and the consumer a registered service stands as, for
// scenariotest.Prove and FindViolation with a real backend, or for a cell of the matrix.
func Strategies(name string) (strategies.Producer, strategies.Consumer, error) {
	if _, err := Lookup(name); err != nil {
		return nil, nil, err
	}
	p, err := strategies.LookupProducer(name)
	if err != nil {
		return nil, nil, err
	}
	c, err := strategies.LookupConsumer(name)
	if err != nil {
		return nil, nil, err
	}
	return p, c, nil
}
