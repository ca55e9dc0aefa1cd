package watermillsvc_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/examples/watermillsvc"
	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/service"
)

// EnvMatrix turns on TestWatermillUnderFaults.
const EnvMatrix = "HARNESS_WATERMILL_MATRIX"

// TestWatermillUnderFaults runs the Watermill service under every fault kind of the catalogue
// on real servers, three seeded draws each, and reports which invariants broke and with which
// seed. It reports, and fails only when the harness itself broke: it shows what Watermill's
// pieces, as configured here, guarantee.
func TestWatermillUnderFaults(t *testing.T) {
	if os.Getenv(EnvMatrix) == "" {
		t.Skip("set " + EnvMatrix + "=1 to run the Watermill service under every fault on real servers")
	}
	inf := realtest.Require(t)
	p, c, err := service.Strategies(watermillsvc.Name)
	if err != nil {
		t.Fatal(err)
	}
	b := real.NewBackend(inf)
	const draws = 3
	for _, k := range fault.Kinds() {
		kind := k.Name
		if k.Producers > 1 {
			continue // a service is one program: service mode runs one producer process
		}
		t.Run(kind, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
			defer cancel()
			h, vs, err := scenariotest.FindViolation(ctx, b, p, c, "orders", kind, draws)
			if err != nil {
				t.Errorf("%s: %v", kind, err)
				return
			}
			if len(vs) == 0 {
				t.Logf("%s: held in %d draws (seeds 1 to %d)", kind, draws, draws)
				return
			}
			var broke []string
			for _, v := range vs {
				if name := string(v.Invariant); !slices.Contains(broke, name) {
					broke = append(broke, name)
				}
			}
			t.Logf("%s: broke %s with seed %d\n%s", kind, strings.Join(broke, ", "), h.Scenario.Seed, scenariotest.Describe(h, vs))
		})
	}
}

// TestWatermillDeduplicatorForgetsOnCrash: Watermill's Deduplicator keeps the keys it has seen
// in the consumer's memory. A consumer killed right after its payment's COMMIT reply, before its
// ack, comes back with an empty map, takes the redelivered copy for a new message and pays
// again. The harness must find this on every run of the scenario: it is no flake of the draw.
func TestWatermillDeduplicatorForgetsOnCrash(t *testing.T) {
	inf := realtest.Require(t)
	p, c, err := service.Strategies(watermillsvc.Name)
	if err != nil {
		t.Fatal(err)
	}
	sc := history.Scenario{Producer: watermillsvc.Name, Consumer: watermillsvc.Name, Workload: "orders", Fault: fault.CrashConsumer,
		Consumers: 1, Prefetch: 1, Commands: []history.Message{
			{ID: "order-1", Key: "order-1", Amount: 10, Kind: "OrderPlaced"},
			{ID: "order-2", Key: "order-2", Amount: 20, Kind: "OrderPlaced"},
		},
		Faults: []history.Fault{{Kind: fault.CrashConsumer, Target: "consumer-1", Point: service.PointCommit, Nth: 1}}}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	h, err := harness.RunWith(ctx, real.NewBackend(inf), sc, p, c)
	if err != nil {
		t.Fatal(err)
	}
	vs := invariants.Check(h)
	if !slices.ContainsFunc(vs, func(v invariants.Violation) bool { return v.Invariant == invariants.NoDuplicateEffect }) {
		t.Fatalf("no duplicate payment after the consumer's crash (violations %v)\n%s", vs, scenariotest.Describe(h, vs))
	}
}
