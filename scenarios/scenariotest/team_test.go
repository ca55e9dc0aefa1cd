package scenariotest_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// SeenOnce is a team's consumer that remembers the ids it applied in memory. The memory lives
// as long as its process: a copy redelivered after a crash is applied again.
type SeenOnce struct{ seen map[string]bool }

// NewSeenOnce is its constructor: the harness calls it for every process incarnation.
func NewSeenOnce() strategies.Consumer { return &SeenOnce{seen: map[string]bool{}} }

func (*SeenOnce) Name() string     { return "seen-once" }
func (*SeenOnce) Doc() string      { return "remember applied ids in memory" }
func (*SeenOnce) Points() []string { return []string{strategies.PointConsumerAfterEffect} }

func (s *SeenOnce) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	if s.seen[d.Msg.ID] {
		return env.Sub.Ack(ctx, d.Tag)
	}
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		_ = tx.Rollback(ctx)
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Commit(ctx); err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	s.seen[d.Msg.ID] = true
	env.Faults.Point(ctx, strategies.PointConsumerAfterEffect)
	return env.Sub.Ack(ctx, d.Tag)
}

// TestMain registers the team's strategies, then lets the test binary serve as the real
// backend's worker: the worker is this binary re-executed, so it registers them too before
// WorkerMain looks them up by name.
func TestMain(m *testing.M) {
	if err := strategies.RegisterConsumer("seen-once", NewSeenOnce); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if real.IsWorker() {
		real.WorkerMain()
	}
	os.Exit(m.Run())
}

// On the simulator, without faults, the team's consumer holds.
func TestProveSeenOnceWithoutFaults(t *testing.T) {
	scenariotest.Prove(t, strategies.Outbox{}, NewSeenOnce(), workload.Orders.Name, scenariotest.Faults(fault.None))
}

// On real servers, the team's registered consumer runs in worker processes of this test
// binary; a consumer process killed after its commit takes its memory with it, and the
// redelivered copy charges twice.
func TestOnRealFindsTheCrashDuplicate(t *testing.T) {
	inf := realtest.Require(t)
	b := real.NewBackend(inf)
	ctx := realtest.Context(t)

	h, vs, err := scenariotest.FindViolation(ctx, b, strategies.Outbox{}, NewSeenOnce(), workload.Orders.Name, fault.CrashConsumer, 3)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(invariants.Broken(vs), invariants.NoDuplicateEffect) {
		t.Fatalf("no draw of seen-once under crash-consumer on real servers broke no-duplicate-effect (got %v)", invariants.Broken(vs))
	}
	t.Logf("seed %d:\n%s", h.Scenario.Seed, scenariotest.Describe(h, vs))

	// The catalogue's fix holds under the same fault, through Prove itself.
	scenariotest.Prove(t, strategies.Outbox{}, strategies.Inbox{}, workload.Orders.Name, scenariotest.OnReal(b), scenariotest.Faults(fault.CrashConsumer), scenariotest.Draws(1))
}

// The README's sample. Without faults it holds; under fault.CrashConsumer Prove fails with the
// timeline of the copy that a restarted process, its memory gone, applied again.
func TestSeenOnceOnReal(t *testing.T) {
	b := real.NewBackend(realtest.Require(t))
	scenariotest.Prove(t, strategies.Outbox{}, NewSeenOnce(), workload.Orders.Name,
		scenariotest.OnReal(b), scenariotest.Faults(fault.None), scenariotest.Draws(3))
}

// impostor is a team's consumer that took a built-in's name.
type impostor struct{ *SeenOnce }

func (impostor) Name() string { return "inbox" }

// The real backend refuses a strategy whose name is registered to another one, instead of
// running the registered one in its workers; so does the validation both backends share.
func TestRealRefusesAnotherStrategyOfARegisteredName(t *testing.T) {
	sc := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: workload.Orders.Name, Fault: fault.None, Consumers: 1, Prefetch: 1, Batch: 1}
	for _, tc := range []struct {
		name string
		run  func() error
	}{
		{"backend", func() error {
			_, err := real.NewBackend(real.Infra{}).Run(context.Background(), sc, strategies.Outbox{}, impostor{&SeenOnce{}})
			return err
		}},
		{"validation", func() error { return harness.ValidateWith(sc, strategies.Outbox{}, impostor{&SeenOnce{}}) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil {
				t.Fatal("a team's consumer named inbox was accepted")
			}
		})
	}
}
