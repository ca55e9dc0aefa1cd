package pg

import (
	"fmt"
	"os"
	"testing"

	"github.com/deliveryharness/harness/harness/real/realtest"
)

// The package's tests share realtest's helpers under short names.
var (
	testRunID = realtest.RunID
	testCtx   = realtest.Context
)

// TestMain fails the test binary if a replication slot that this process created is still on
// its server after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	left, err := realtest.SlotsLeft(CreatedSlots())
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
