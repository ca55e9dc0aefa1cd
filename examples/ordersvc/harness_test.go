package ordersvc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/service"
)

// The correct service keeps every invariant of the orders workload under every fault the
// harness has, within Prove's bounds (three seeded draws per fault).
func TestOrdersvcHoldsUnderEveryFault(t *testing.T) {
	inf := realtest.Require(t)
	p, c, err := service.Strategies("ordersvc")
	if err != nil {
		t.Fatal(err)
	}
	scenariotest.Prove(t, p, c, "orders", scenariotest.OnReal(real.NewBackend(inf)), scenariotest.Draws(3))
}

// The harness finds the bug of ordersvc-bug: when a consumer's inbox COMMIT commits but its reply
// is lost, the delivery comes back, finds its inbox row and is acknowledged unpaid.
func TestOrdersvcBugIsFound(t *testing.T) {
	inf := realtest.Require(t)
	p, c, err := service.Strategies("ordersvc-bug")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	h, vs, err := scenariotest.FindViolation(ctx, real.NewBackend(inf), p, c, "orders", "ambiguous-commit", 20)
	if err != nil {
		t.Fatalf("harness: %v", err)
	}
	if len(vs) == 0 {
		t.Fatal("no draw of ordersvc-bug under ambiguous-commit broke an invariant in 20 seeds")
	}
	if !slices.Contains(invariants.Broken(vs), invariants.NoLostEffect) {
		t.Errorf("ordersvc-bug broke %v, want %s among them", invariants.Broken(vs), invariants.NoLostEffect)
	}
	t.Logf("seed %d:\n%s", h.Scenario.Seed, scenariotest.Describe(h, vs))
}
