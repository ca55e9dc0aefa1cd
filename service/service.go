// Package service puts a team's own delivery code, written with its own drivers (pgx or
// database/sql, amqp091-go, Watermill), under the harness on real servers: service mode.
//
// The team implements Service. The harness creates a schema and a queue for each run, hands the
// service connection URLs that run through the Toxiproxy proxies of the worker process that uses
// them, and runs the service's parts in separate processes (the team's test binary re-executed):
// the producer calls Handle for each business command, the relay (a Relayer) and the consumers run
// their loops until told to stop. Faults are SIGKILLs and link faults, fired at exact protocol
// points that custom toxics see in the PostgreSQL and AMQP 0-9-1 byte streams (a COMMIT's reply,
// a publisher confirm, a delivery, a consumer ack) or at the service's own named points
// (Env.Point). After the run the harness reads the service's final state (Final) and checks the
// catalogue's invariants, and any of the team's own, on it.
//
// A service is registered by name with a constructor (Register), in init or in TestMain before
// the worker hook; each process incarnation builds its own value, so what it holds in memory dies
// with it.
package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"sync"

	"github.com/deliveryharness/harness/harness/history"
)

// Service is a team's delivery code. Every method gets the Env of the process it runs in; each
// process incarnation has its own value (the constructor given to Register).
type Service interface {
	// Setup creates the service's tables in env.Schema (the search_path of env.Postgres), once
	// per run, in the harness's own process, with no fault in force.
	Setup(ctx context.Context, env Env) error
	// Handle runs one business command in the producer process: what a request handler does
	// (write the business row and, for an outbox, the outbox row in one transaction; or publish).
	// An error means the client does not know the outcome: the harness does not retry it.
	Handle(ctx context.Context, env Env, cmd Command) error
	// Consume runs one consumer process's loop on env.Queue until ctx ends, and then returns.
	// Several consumer processes may run it at once (competing consumers).
	Consume(ctx context.Context, env Env) error
	// Final reads the state the invariants judge: the business commands committed, and every
	// effect applied (one entry per applied effect, repeats included). It runs in the harness's
	// own process after the run, with no fault in force.
	Final(ctx context.Context, env Env) (State, error)
}

// Relayer is a Service with a relay process (an outbox relay, a log tailer): Relay runs its loop
// until ctx ends, and then returns.
type Relayer interface {
	Relay(ctx context.Context, env Env) error
}

// Pointer is a Service that declares named fault points of its own, which its code passes with
// Env.Point: a crash fault may kill the process there.
type Pointer interface {
	Points() Points
}

// Pender is a Service that can say how much work waits (rows of its outbox not yet published):
// the run is over only when none does. Without it, the harness waits until the final state and
// the queue stop changing.
type Pender interface {
	Pending(ctx context.Context, env Env) (int, error)
}

// Documented is a Service that describes itself in one line, for listings and reports.
type Documented interface {
	Doc() string
}

// Points are a service's own fault points, by process.
type Points struct {
	Producer []string
	Relay    []string
	Consumer []string
}

// Command is one business command: an order to pay, an account to credit, a price to set.
type Command = history.Message

// Effect is one applied effect: the message it came from, its key and amount.
type Effect = history.Effect

// Value is a final value by key (a balance, a price), for the workloads that keep one.
type Value = history.Value

// State is a service's final state.
type State struct {
	// Committed is the business commands whose transaction committed, with their message ids.
	Committed []Command
	// Effects is every effect the consumers applied, one per application.
	Effects []Effect
	// Values is the final value per key, for the credits and prices workloads.
	Values []Value
}

// Env is what a process of the service gets from the harness.
type Env struct {
	// Proc names the process: producer, relay, consumer-1, ... ("harness" in Setup and Final).
	Proc string
	// Postgres is a connection URL for this process, through its own proxy, with the run's
	// schema as search_path.
	Postgres string
	// AMQP is a broker URL for this process, through its own proxy.
	AMQP string
	// Gateway is the mail gateway's URL through this process's proxy (emails workload only).
	Gateway string
	// Schema is the run's schema: the service's tables go there. It is dropped after the run.
	Schema string
	// Queue is the run's queue, declared by the harness with QueueArgs; publish to it through
	// the default exchange (routing key = Queue). It is deleted after the run.
	Queue string
	// QueueArgs are the arguments the queue was declared with: a service that declares it
	// too must pass the same ones.
	QueueArgs map[string]any
	// Workload names the run's workload: orders, credits, prices, emails.
	Workload string
	// Prefetch is how many unacknowledged deliveries a consumer may hold.
	Prefetch int

	point func(ctx context.Context, name string)
}

// Point marks one of the service's declared fault points (Pointer): a crash fault may kill the
// process here. Outside a worker process it does nothing. A name that is not declared ends the
// run with an error, so that a typo cannot silently disable a fault.
func (e Env) Point(ctx context.Context, name string) {
	if e.point != nil {
		e.point(ctx, name)
	}
}

// WithPoint returns env whose Point calls fn: the harness's workers use it.
func WithPoint(env Env, fn func(ctx context.Context, name string)) Env {
	env.point = fn
	return env
}

// New builds a fresh Service for one process incarnation.
type New func() Service

// ErrRegistration marks a registration that was refused.
var ErrRegistration = errors.New("service: registration refused")

var (
	mu       sync.RWMutex
	services = map[string]New{}
	namePat  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,39}$`)
)

// Register registers a service under name (lower-case letters, digits and dashes). The name is
// also the service's producer and consumer name in the matrix, reports and replay commands, so it
// must not clash with a strategy's; a name taken by another service is refused too. Register in
// an init function, or in TestMain before the worker hook, so that the worker processes register
// the same services.
func Register(name string, fn New) error {
	if !namePat.MatchString(name) {
		return fmt.Errorf("%w: name %q: want 1 to 40 of [a-z0-9-], starting with a letter", ErrRegistration, name)
	}
	if fn == nil || fn() == nil {
		return fmt.Errorf("%w: service %q: the constructor builds nothing", ErrRegistration, name)
	}
	mu.Lock()
	defer mu.Unlock()
	if _, ok := services[name]; ok {
		return fmt.Errorf("%w: service name %q is taken", ErrRegistration, name)
	}
	if hook != nil {
		if err := hook(name, fn); err != nil {
			return fmt.Errorf("%w: service %q: %w", ErrRegistration, name, err)
		}
	}
	services[name] = fn
	return nil
}

// MustRegister is Register that panics on a refusal: for init functions.
func MustRegister(name string, fn New) {
	if err := Register(name, fn); err != nil {
		panic(err)
	}
}

// Lookup returns the constructor of a registered service.
func Lookup(name string) (New, error) {
	mu.RLock()
	defer mu.RUnlock()
	fn, ok := services[name]
	if !ok {
		return nil, fmt.Errorf("service: no service registered as %q (registered: %v)", name, namesLocked())
	}
	return fn, nil
}

// Names lists the registered services, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	return namesLocked()
}

func namesLocked() []string {
	out := make([]string, 0, len(services))
	for n := range services {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// hook, when set, is told of each registration before it is accepted: the strategy adapter
// registers the service's producer and consumer names there.
var hook func(name string, fn New) error
