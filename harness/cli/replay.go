package cli

// Replay: a seed's scenario rebuilt, or a scenario file, run again and shown as a timeline.

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"os"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/reports"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
)

func cmdReplay(ctx context.Context, args []string, stdout io.Writer) error {
	var c common
	fs := newFlags("replay", &c)
	seed := fs.Uint64("seed", 0, "the seed `S` to replay")
	file := fs.String("scenario", "", "a scenario (or counterexample) JSON `FILE` to replay")
	schedule := fs.Int("schedule", 0, "the `N`-th schedule (from 1) that --explore exhaustive enumerates within the --max-* bounds, run as it is")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	b, err := backendFor(ctx, c.backend)
	if err != nil {
		return err
	}
	if c.format == "markdown" || c.format == "html" {
		return usagef("replay: --format %s is not available (text, json)", c.format)
	}
	var ce *result.Counterexample
	var cell result.Cell
	topts := c.timelineOptions()
	seedSet := false
	fs.Visit(func(f *flag.Flag) { seedSet = seedSet || f.Name == "seed" })
	switch {
	case *file != "" && seedSet, *schedule != 0 && (seedSet || *file != ""):
		return usagef("replay takes one of --seed, --scenario and --schedule")
	case *schedule != 0:
		cell, err = c.cell()
		if err != nil {
			return err
		}
		bounds := c.bounds()
		sc, err := scenarios.ScheduleOf(cell, bounds, *schedule)
		if err != nil {
			return usageOr(err)
		}
		out, err := scenarios.RunScenario(ctx, b, sc)
		if err != nil {
			return usageOr(err)
		}
		ce = &result.Counterexample{Seed: sc.Seed, Scenario: sc, Violations: out.Violations, History: out.History, Schedule: *schedule, Bounds: &bounds}
		if broken := invariants.Broken(out.Violations); len(broken) > 0 {
			ce.Invariant = broken[0]
		}
	case *file != "":
		f, err := readScenario(*file)
		if err != nil {
			return err
		}
		sc := f.Scenario
		cell = result.Cell{Producer: sc.Producer, Consumer: sc.Consumer, Workload: sc.Workload, Fault: sc.Fault, Broker: sc.Broker}
		out, err := scenarios.RunScenario(ctx, b, sc)
		if err != nil {
			return usageOr(err)
		}
		var inv invariants.Name
		if broken := invariants.Broken(out.Violations); len(broken) > 0 {
			inv = broken[0]
		}
		ce = &result.Counterexample{Seed: sc.Seed, Invariant: inv, Scenario: sc, Violations: out.Violations, History: out.History}
		if f.rebuiltBySchedule(cell) {
			ce.Schedule, ce.Bounds = f.Schedule, f.Bounds
		} else {
			// Shrunk, hand-written or edited: no seed draws it, and only the file replays it.
			ce.File = *file
		}
		topts = reports.TimelineOptions{ReplayFile: *file}
	default:
		if !seedSet {
			return usagef("replay needs --seed S or --schedule N (with --producer --consumer --workload --fault) or --scenario FILE")
		}
		cell, err = c.cell()
		if err != nil {
			return err
		}
		opts := c.options()
		sc, err := scenarios.FromSeed(cell, *seed, opts.Limits)
		if err != nil {
			return usageOr(err)
		}
		out, err := scenarios.RunScenario(ctx, b, sc)
		if err != nil {
			return usageOr(err)
		}
		broken := invariants.Broken(out.Violations)
		if len(broken) == 0 {
			ce = &result.Counterexample{Seed: *seed, Scenario: sc, History: out.History}
		} else if ce, err = scenarios.FindCounterexample(ctx, b, cell, *seed, broken[0], opts); err != nil {
			return err
		}
	}
	switch c.format {
	case "json":
		// The same shape as a cell of `run --format json`, for one run.
		if err := reports.JSON(stdout, []result.CellResult{replayResult(cell, b.Name(), ce)}); err != nil {
			return err
		}
	default:
		if err := reports.Timeline(stdout, ce, cell, topts); err != nil {
			return err
		}
	}
	if len(ce.Violations) > 0 {
		return errFindings
	}
	return nil
}

// replayResult is a replayed counterexample as a one-run cell result.
func replayResult(cell result.Cell, backend string, ce *result.Counterexample) result.CellResult {
	exp := scenarios.Expected(cell)
	r := result.CellResult{
		Producer: cell.Producer, Consumer: cell.Consumer, Workload: cell.Workload, Fault: cell.Fault, Broker: cell.Broker,
		Backend: backend, Runs: 1, Violations: map[invariants.Name]int{},
		Expected: exp.Breaks, MayBreak: exp.MayBreak, Reason: exp.Reason(),
	}
	if r.Expected == nil {
		r.Expected = []invariants.Name{}
	}
	for _, inv := range invariants.For(cell.Workload) {
		r.Violations[inv.Name()] = 0
	}
	for _, name := range invariants.Broken(ce.Violations) {
		r.Violations[name] = 1
	}
	r.Matches = len(r.Unexpected()) == 0
	if len(ce.Violations) > 0 {
		r.Counterexample = ce
	}
	return r
}

// scenarioFile is what a --scenario file holds: the scenario and, when an exhaustive exploration
// wrote it, the schedule's index and the bounds it was enumerated within.
type scenarioFile struct {
	Scenario history.Scenario
	Schedule int            // 1-based, within Bounds; 0 when the file names none
	Bounds   *result.Bounds // nil when the file names none
}

// rebuiltBySchedule says `replay --schedule N` with the file's bounds rebuilds its very scenario:
// the file names a schedule, and the schedule it names is the scenario it holds (not edited since).
func (f scenarioFile) rebuiltBySchedule(cell result.Cell) bool {
	if f.Schedule < 1 || f.Bounds == nil {
		return false
	}
	sc, err := scenarios.ScheduleOf(cell, *f.Bounds, f.Schedule)
	if err != nil {
		return false
	}
	want, err1 := json.Marshal(f.Scenario)
	got, err2 := json.Marshal(sc)
	return err1 == nil && err2 == nil && bytes.Equal(got, want)
}

// readScenario reads a scenario JSON, bare or inside a counterexample ({"scenario": ...}). Of a
// counterexample it also reads the schedule index and bounds of an exhaustive exploration's: the
// JSON report's (schedule_index, bounds) or a result.Counterexample's (schedule, bounds).
func readScenario(path string) (scenarioFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return scenarioFile{}, usagef("--scenario: %v", err)
	}
	var wrapped struct {
		Scenario      *history.Scenario `json:"scenario"`
		ScheduleIndex int               `json:"schedule_index"`
		Schedule      json.RawMessage   `json:"schedule"` // an index, or the JSON report's list of faults
		Bounds        *result.Bounds    `json:"bounds"`
	}
	if err := json.Unmarshal(data, &wrapped); err == nil && wrapped.Scenario != nil {
		f := scenarioFile{Scenario: *wrapped.Scenario, Schedule: wrapped.ScheduleIndex, Bounds: wrapped.Bounds}
		if f.Schedule == 0 && len(wrapped.Schedule) > 0 {
			var n int
			if json.Unmarshal(wrapped.Schedule, &n) == nil {
				f.Schedule = n
			}
		}
		return f, nil
	}
	var sc history.Scenario
	if err := json.Unmarshal(data, &sc); err != nil {
		return scenarioFile{}, usagef("--scenario %s: not a scenario JSON: %v", path, err)
	}
	if sc.Producer == "" {
		return scenarioFile{}, usagef("--scenario %s: not a scenario JSON (no producer)", path)
	}
	return scenarioFile{Scenario: sc}, nil
}
