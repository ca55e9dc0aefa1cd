package infra_test

import (
	"testing"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// TestRequireWithStopsStartedServers: servers that the containers step started are used, and
// stopped by the test's cleanup.
func TestRequireWithStopsStartedServers(t *testing.T) {
	infra.UnsetEnv(t)
	infra.DeadLocal(t)
	starter := &infra.Starter{}
	t.Run("uses them", func(t *testing.T) {
		inf := realtest.RequireWith(t, infra.WithContainers(starter.Start))
		if inf.Source != "testcontainers" {
			t.Errorf("source %q, want testcontainers", inf.Source)
		}
		if starter.Closed() != 0 {
			t.Error("servers stopped before the test ended")
		}
	})
	if starter.Started() != 1 || starter.Closed() != 1 {
		t.Errorf("started %d, closed %d times: want 1 and 1", starter.Started(), starter.Closed())
	}
}
