package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/reports"
)

// TestRunReal: `run --backend real` runs a cell on PostgreSQL and RabbitMQ with worker processes,
// finds the double charge of a naive consumer that dies before its ack, and reports it with the
// real backend named in the result and in the replay command.
func TestRunReal(t *testing.T) {
	containers.Require(t)
	args := []string{"run", "--backend", "real", "--producer", "double-write", "--consumer", "naive",
		"--workload", "orders", "--fault", "crash-consumer", "--seeds", "6", "--commands", "2", "--format", "json"}
	r := simulate(t, args...)
	requireCode(t, r, exitFindings, args)
	var out reports.JSONReport
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	c := out.Cells[0]
	if c.Backend != "real" || c.Runs != 6 || c.Violations["no-duplicate-effect"] == 0 || c.Counterexample == nil {
		t.Fatalf("want a real-backend cell that found the duplicate: %+v", c)
	}
	if !strings.Contains(c.Counterexample.Replay, "--backend real") {
		t.Errorf("replay command %q does not name the real backend", c.Counterexample.Replay)
	}
	if !strings.Contains(strings.Join(c.Counterexample.Timeline, "\n"), "SIGKILL") {
		t.Errorf("the timeline does not show the kill:\n%s", strings.Join(c.Counterexample.Timeline, "\n"))
	}
}

// TestRealDefaultSeeds: on real servers a cell runs 5 seeds unless --seeds says otherwise.
func TestRealDefaultSeeds(t *testing.T) {
	containers.Require(t)
	args := []string{"run", "--backend", "real", "--producer", "outbox", "--consumer", "inbox",
		"--workload", "orders", "--fault", "none", "--commands", "1"}
	r := simulate(t, args...)
	requireCode(t, r, exitOK, args)
	if !strings.Contains(r.stdout, "backend real, 5 runs") {
		t.Errorf("want 5 runs by default on real servers:\n%s", r.stdout)
	}
}
