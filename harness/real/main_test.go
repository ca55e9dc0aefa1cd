package real

import (
	"fmt"
	"os"
	"testing"

	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// TestMain lets the test binary serve as the worker binary of the real backend. After the tests
// it fails the binary if a replication slot that this process created is still on its server.
func TestMain(m *testing.M) {
	if IsWorker() {
		WorkerMain()
	}
	code := m.Run()
	left, err := realtest.SlotsLeft(pg.CreatedSlots())
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "checking for replication slots left behind: %v\n", err)
		code = max(code, 1)
	case len(left) > 0:
		fmt.Fprintf(os.Stderr, "FAIL: replication slots left behind by this test process: %v\n", left)
		code = max(code, 1)
	}
	os.Exit(code)
}
