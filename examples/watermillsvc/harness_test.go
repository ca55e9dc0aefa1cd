package watermillsvc_test

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/examples/watermillsvc"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
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
	for _, kind := range fault.Names() {
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
