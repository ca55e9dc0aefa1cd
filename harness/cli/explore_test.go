package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/reports"
	"github.com/deliveryharness/harness/strategies"
)

// relayCrash is the cell whose duplicate a relay crash between publishing and marking makes.
var relayCrash = []string{"--producer", "outbox", "--consumer", "naive", "--workload", "orders", "--fault", "crash-relay"}

// exploreCell runs `run --explore exhaustive` on relayCrash with extra flags, as JSON, and
// checks that it explored one schedule per relay point, all of them, and found the duplicate.
func exploreCell(t *testing.T, extra ...string) reports.JSONCell {
	t.Helper()
	args := append(append([]string{"run", "--explore", "exhaustive", "--format", "json"}, relayCrash...), extra...)
	r := simulate(t, args...)
	requireCode(t, r, exitFindings, args)
	var out reports.JSONReport
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, r.stdout)
	}
	c := out.Cells[0]
	points := len(strategies.Outbox{}.RelayPoints())
	if c.Explored != points || c.Runs != points || c.Exhausted == nil || !*c.Exhausted || c.Bounds == nil {
		t.Fatalf("want %d schedules (one per relay point), all explored, with the bounds: explored %d, runs %d, exhausted %v, bounds %v",
			points, c.Explored, c.Runs, c.Exhausted, c.Bounds)
	}
	if c.Violations["no-duplicate-effect"] == 0 || c.Counterexample == nil || c.Counterexample.ScheduleIndex == 0 {
		t.Fatalf("want the duplicate found, with its schedule: %+v", c)
	}
	if !strings.Contains(c.Counterexample.Replay, " --schedule ") {
		t.Errorf("replay command %q does not name the schedule", c.Counterexample.Replay)
	}
	return c
}

// TestExploreSim: on the simulator the exhaustive exploration of relayCrash finds the duplicate
// within its 3 schedules, and the printed replay command runs the same schedule to the same break.
func TestExploreSim(t *testing.T) {
	c := exploreCell(t)
	args := replayArgs(t, c.Counterexample.Replay)
	r := simulate(t, args...)
	requireCode(t, r, exitFindings, args)
	if !strings.Contains(r.stdout, "no-duplicate-effect broken") || !strings.Contains(r.stdout, c.Counterexample.Replay) {
		t.Errorf("replay does not show the same break and command:\n%s", r.stdout)
	}
}

// TestExploreText: the text report says how many schedules a cell explored, within which bounds.
func TestExploreText(t *testing.T) {
	args := append([]string{"run", "--explore", "exhaustive", "--max-commands", "2"}, relayCrash...)
	r := simulate(t, args...)
	requireCode(t, r, exitFindings, args)
	for _, want := range []string{"9 runs; explored 9 schedules within commands <= 2, faults <= 1", "all of them"} {
		if !strings.Contains(strings.Join(strings.Fields(r.stdout), " "), want) {
			t.Errorf("no %q in:\n%s", want, r.stdout)
		}
	}
}

// TestExploreUsage: bad exploration flags are usage errors.
func TestExploreUsage(t *testing.T) {
	for _, args := range [][]string{
		append([]string{"run", "--explore", "everything"}, relayCrash...),
		append([]string{"run", "--explore", "exhaustive", "--max-commands", "0"}, relayCrash...),
		append([]string{"run", "--explore", "exhaustive", "--max-consumers", "-1"}, relayCrash...),
		append([]string{"replay", "--schedule", "4"}, relayCrash...),
		append([]string{"replay", "--schedule", "1", "--seed", "3"}, relayCrash...),
	} {
		requireCode(t, simulate(t, args...), exitUsage, args)
	}
}

// TestExploreReal: on real servers, with one command and one fault, the relay's crash duplicate
// is found within one run per relay point, and the printed replay command runs its schedule again.
func TestExploreReal(t *testing.T) {
	realtest.Require(t)
	c := exploreCell(t, "--backend", "real")
	if c.Backend != "real" || !strings.Contains(c.Counterexample.Replay, "--backend real") {
		t.Fatalf("want a real-backend cell and replay command: %s, %q", c.Backend, c.Counterexample.Replay)
	}
	args := replayArgs(t, c.Counterexample.Replay)
	r := simulate(t, args...)
	requireCode(t, r, exitFindings, args)
}
