package pg

import (
	"testing"

	"github.com/deliveryharness/harness/harness/real/realtest"
)

func TestLivenessIsExclusive(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	runID := testRunID(t)
	first, err := HoldLiveness(testCtx(t), inf.PostgresURL, runID)
	if err != nil {
		t.Fatal(err)
	}
	if second, err := HoldLiveness(testCtx(t), inf.PostgresURL, runID); err == nil {
		second.Release()
		t.Fatal("a second liveness marker for the same run was granted")
	}
	first.Release()
	first.Release() // a second release does nothing
	again, err := HoldLiveness(testCtx(t), inf.PostgresURL, runID)
	if err != nil {
		t.Fatalf("after the release: %v", err)
	}
	again.Release()
}
