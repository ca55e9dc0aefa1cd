package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/deliveryharness/harness/harness/real"
)

// envCLIArgs, set to a JSON list of arguments, makes the test binary run the CLI with them and
// exit, as the `simulate` binary would: tests start it as a separate process to kill it.
const envCLIArgs = "HARNESS_TEST_CLI_ARGS"

// TestMain lets the test binary serve as the worker binary of the real backend, and as the CLI.
func TestMain(m *testing.M) {
	if real.IsWorker() {
		real.WorkerMain()
	}
	if raw := os.Getenv(envCLIArgs); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", envCLIArgs, err)
			os.Exit(exitUsage)
		}
		os.Exit(run(context.Background(), args, os.Stdout, os.Stderr, false))
	}
	os.Exit(m.Run())
}
