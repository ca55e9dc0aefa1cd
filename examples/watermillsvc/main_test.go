package watermillsvc_test

import (
	"os"
	"testing"

	"github.com/deliveryharness/harness/harness/real"
)

// TestMain lets the test binary serve as the real backend's worker binary: service mode runs
// the producer, the relay and the consumers as this binary re-executed, and the service is
// registered (package watermillsvc's init) in every one of them.
func TestMain(m *testing.M) {
	if real.IsWorker() {
		real.WorkerMain()
	}
	os.Exit(m.Run())
}
