package strategies

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
)

// NewProducer builds a fresh producer for one process incarnation. What the instance holds in
// memory lives as long as that process: a crash loses it, and competing processes, runs and draws
// never share it.
type NewProducer func() Producer

// NewConsumer builds a fresh consumer for one process incarnation (see NewProducer).
type NewConsumer func() Consumer

// The built-ins are one explicit list per kind, in catalogue order, so that `simulate list` and
// the matrix are stable. A new strategy is one file plus one line here. They are stateless values;
// their constructors return the value.
var (
	builtinProducers = []NewProducer{
		func() Producer { return DoubleWrite{} },
		func() Producer { return PublishFirst{} },
		func() Producer { return Outbox{} },
		func() Producer { return LogTailing{} },
		func() Producer { return DedupBuffer{} },
		func() Producer { return EventSourcing{} },
		func() Producer { return OutboxOffset{} },
		func() Producer { return OutboxFenced{} },
	}
	builtinConsumers = []NewConsumer{
		func() Consumer { return Naive{} },
		func() Consumer { return AckFirst{} },
		func() Consumer { return Inbox{} },
		func() Consumer { return InboxRacy{} },
		func() Consumer { return Natural{} },
		func() Consumer { return RedeliveredFlag{} },
		func() Consumer { return Versioned{} },
		func() Consumer { return IdempotencyKey{} },
		func() Consumer { return DedupWindow{} },
	}
)

// The built-ins' names, in catalogue order, taken once: a lookup neither builds a strategy nor
// allocates. ProducerNames and ConsumerNames hand out copies.
var (
	builtinProducerNames = names(build(builtinProducers))
	builtinConsumerNames = names(build(builtinConsumers))
)

// A team's own strategies, in registration order, after the built-ins.
var (
	teamMu        sync.RWMutex
	teamProducers []NewProducer
	teamConsumers []NewConsumer
	// their names, so that a lookup constructs nothing
	teamProducerNames, teamConsumerNames []string
)

// ErrRegistration marks a registration that was refused.
var ErrRegistration = errors.New("strategies: registration refused")

// RegisterProducer registers a team's producer under name. The constructor is called anew for
// every process incarnation, on the simulator and in each real worker process; the instance it
// returns must report name as its Name. A name already taken, by a built-in or by an earlier
// registration, is an error: nothing is replaced.
//
// On real servers the workers are the test binary re-executed: register before real.WorkerMain
// runs (in an init function, or in TestMain before the worker hook), so that the worker process
// registers the same strategies.
func RegisterProducer(name string, fn NewProducer) error {
	if fn == nil {
		return fmt.Errorf("%w: producer %q: nil constructor", ErrRegistration, name)
	}
	if got := fn(); got == nil || got.Name() != name {
		return fmt.Errorf("%w: producer %q: the constructor builds a strategy named %q", ErrRegistration, name, nameOf(got))
	}
	teamMu.Lock()
	defer teamMu.Unlock()
	if _, ok := findProducer(name); ok {
		return fmt.Errorf("%w: producer name %q is taken", ErrRegistration, name)
	}
	teamProducers = append(teamProducers, fn)
	teamProducerNames = append(teamProducerNames, name)
	return nil
}

// RegisterConsumer registers a team's consumer under name (see RegisterProducer).
func RegisterConsumer(name string, fn NewConsumer) error {
	if fn == nil {
		return fmt.Errorf("%w: consumer %q: nil constructor", ErrRegistration, name)
	}
	if got := fn(); got == nil || got.Name() != name {
		return fmt.Errorf("%w: consumer %q: the constructor builds a strategy named %q", ErrRegistration, name, nameOf(got))
	}
	teamMu.Lock()
	defer teamMu.Unlock()
	if _, ok := findConsumer(name); ok {
		return fmt.Errorf("%w: consumer name %q is taken", ErrRegistration, name)
	}
	teamConsumers = append(teamConsumers, fn)
	teamConsumerNames = append(teamConsumerNames, name)
	return nil
}

func nameOf(s interface{ Name() string }) string {
	if s == nil || reflect.ValueOf(s).Kind() == reflect.Pointer && reflect.ValueOf(s).IsNil() {
		return ""
	}
	return s.Name()
}

// findProducer looks a name up among the built-ins and the registrations; the caller holds teamMu.
func findProducer(name string) (NewProducer, bool) {
	if i := slices.Index(builtinProducerNames, name); i >= 0 {
		return builtinProducers[i], true
	}
	if i := slices.Index(teamProducerNames, name); i >= 0 {
		return teamProducers[i], true
	}
	return nil, false
}

func findConsumer(name string) (NewConsumer, bool) {
	if i := slices.Index(builtinConsumerNames, name); i >= 0 {
		return builtinConsumers[i], true
	}
	if i := slices.Index(teamConsumerNames, name); i >= 0 {
		return teamConsumers[i], true
	}
	return nil, false
}

// Producers returns the built-in producer strategies in catalogue order (the matrix's rows).
func Producers() []Producer { return build(builtinProducers) }

// Consumers returns the built-in consumer strategies in catalogue order.
func Consumers() []Consumer { return build(builtinConsumers) }

// RegisteredProducers returns one instance of each producer a team registered, in order.
func RegisteredProducers() []Producer {
	teamMu.RLock()
	defer teamMu.RUnlock()
	return build(teamProducers)
}

// RegisteredConsumers returns one instance of each consumer a team registered, in order.
func RegisteredConsumers() []Consumer {
	teamMu.RLock()
	defer teamMu.RUnlock()
	return build(teamConsumers)
}

func build[T any, F ~func() T](fns []F) []T {
	out := make([]T, len(fns))
	for i, fn := range fns {
		out[i] = fn()
	}
	return out
}

// ProducerConstructor finds the constructor registered under name, built-in or a team's.
func ProducerConstructor(name string) (NewProducer, error) {
	teamMu.RLock()
	defer teamMu.RUnlock()
	if fn, ok := findProducer(name); ok {
		return fn, nil
	}
	return nil, fmt.Errorf("unknown producer strategy %q (known: %s)", name, strings.Join(append(ProducerNames(), teamProducerNames...), ", "))
}

// ConsumerConstructor finds the constructor registered under name, built-in or a team's.
func ConsumerConstructor(name string) (NewConsumer, error) {
	teamMu.RLock()
	defer teamMu.RUnlock()
	if fn, ok := findConsumer(name); ok {
		return fn, nil
	}
	return nil, fmt.Errorf("unknown consumer strategy %q (known: %s)", name, strings.Join(append(ConsumerNames(), teamConsumerNames...), ", "))
}

// LookupProducer returns a fresh instance of the producer registered under name.
func LookupProducer(name string) (Producer, error) {
	fn, err := ProducerConstructor(name)
	if err != nil {
		return nil, err
	}
	return fn(), nil
}

// LookupConsumer returns a fresh instance of the consumer registered under name.
func LookupConsumer(name string) (Consumer, error) {
	fn, err := ConsumerConstructor(name)
	if err != nil {
		return nil, err
	}
	return fn(), nil
}

// ProducerFor returns the constructor for a producer value: the one registered under p's name
// when it builds p's type. A name registered to a different type is an error, never a silent
// substitution. An unregistered value is its own constructor: every incarnation gets p itself, so
// a strategy that keeps memory must be registered to lose it in a crash.
func ProducerFor(p Producer) (NewProducer, error) {
	fn, err := ProducerConstructor(p.Name())
	if err != nil {
		return func() Producer { return p }, nil
	}
	if reflect.TypeOf(fn()) != reflect.TypeOf(p) {
		return nil, fmt.Errorf("producer %q: the name is registered to %T, not %T", p.Name(), fn(), p)
	}
	return fn, nil
}

// ConsumerFor returns the constructor for a consumer value (see ProducerFor).
func ConsumerFor(c Consumer) (NewConsumer, error) {
	fn, err := ConsumerConstructor(c.Name())
	if err != nil {
		return func() Consumer { return c }, nil
	}
	if reflect.TypeOf(fn()) != reflect.TypeOf(c) {
		return nil, fmt.Errorf("consumer %q: the name is registered to %T, not %T", c.Name(), fn(), c)
	}
	return fn, nil
}

func names[T interface{ Name() string }](list []T) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = s.Name()
	}
	return out
}

// ProducerNames lists the built-in producer names in catalogue order.
func ProducerNames() []string { return slices.Clone(builtinProducerNames) }

// ConsumerNames lists the built-in consumer names in catalogue order.
func ConsumerNames() []string { return slices.Clone(builtinConsumerNames) }

// HasRelay reports whether the producer publishes through a background relay.
func HasRelay(p Producer) bool {
	_, ok := p.(Relay)
	return ok
}
