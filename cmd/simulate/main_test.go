package main

import (
	"os"
	"testing"

	"github.com/deliveryharness/harness/harness/real"
)

// TestMain lets the test binary serve as the worker binary of the real backend.
func TestMain(m *testing.M) {
	if real.IsWorker() {
		real.WorkerMain()
	}
	os.Exit(m.Run())
}
