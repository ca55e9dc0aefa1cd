package cli

// Replay: a seed's scenario rebuilt, or a scenario file, run again and shown as a timeline.

import (
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
		sc, err := readScenario(*file)
		if err != nil {
			return err
		}
		cell = result.Cell{Producer: sc.Producer, Consumer: sc.Consumer, Workload: sc.Workload, Fault: sc.Fault}
		out, err := scenarios.RunScenario(ctx, b, sc)
		if err != nil {
			return usageOr(err)
		}
		var inv invariants.Name
		if broken := invariants.Broken(out.Violations); len(broken) > 0 {
			inv = broken[0]
		}
		ce = &result.Counterexample{Seed: sc.Seed, Invariant: inv, Scenario: sc, Violations: out.Violations, History: out.History}
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
		if err := reports.Timeline(stdout, ce, cell, c.timelineOptions()); err != nil {
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
		Producer: cell.Producer, Consumer: cell.Consumer, Workload: cell.Workload, Fault: cell.Fault,
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

// readScenario reads a scenario JSON, bare or inside a counterexample ({"scenario": ...}).
func readScenario(path string) (history.Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return history.Scenario{}, usagef("--scenario: %v", err)
	}
	var wrapped struct {
		Scenario *history.Scenario `json:"scenario"`
	}
	if err := json.Unmarshal(data, &wrapped); err == nil && wrapped.Scenario != nil {
		return *wrapped.Scenario, nil
	}
	var sc history.Scenario
	if err := json.Unmarshal(data, &sc); err != nil {
		return sc, usagef("--scenario %s: not a scenario JSON: %v", path, err)
	}
	if sc.Producer == "" {
		return sc, usagef("--scenario %s: not a scenario JSON (no producer)", path)
	}
	return sc, nil
}
