package real

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as the worker binary of the real backend.
func TestMain(m *testing.M) {
	if IsWorker() {
		WorkerMain()
	}
	os.Exit(m.Run())
}
