package realtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/real/infra"
)

// RequireNATS finds the servers for a test that runs on NATS JetStream (Require, then
// infra.RequireNATS): it skips the test with one line saying what to set; with
// HARNESS_REQUIRE_INFRA=1 a missing server fails the test instead.
func RequireNATS(t testing.TB) infra.Infra {
	t.Helper()
	inf := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := infra.RequireNATS(ctx, inf); err != nil {
		if os.Getenv(infra.EnvRequireInfra) == "1" {
			t.Fatalf("%v (%s=1)", err, infra.EnvRequireInfra)
		}
		t.Skip(err.Error())
	}
	return inf
}
