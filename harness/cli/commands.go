package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/reports"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/service"
	"github.com/deliveryharness/harness/strategies"
)

// common are the flags several commands share.
type common struct {
	producer, consumer, workload, fault string
	backend, format                     string
	seeds                               int
	firstSeed                           uint64
	commands                            int
	noShrink, shrink                    bool
	shard                               scenarios.Shard // matrix: the part of the selection to run
	catalogueOnly                       bool            // the catalogue's cells alone, a team's left out (simulate alone)
	// Exhaustive exploration (--explore exhaustive) and its bounds.
	explore                                             string
	maxCommands, maxFaults, maxConsumers, interleavings int
	maxSchedules                                        int
}

func newFlags(name string, c *common) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.producer, "producer", "", "producer strategy `P` (simulate list)")
	fs.StringVar(&c.consumer, "consumer", "", "consumer strategy `C` (simulate list)")
	fs.StringVar(&c.workload, "workload", "", "workload `W`: "+strings.Join(workload.Names(), ", "))
	fs.StringVar(&c.fault, "fault", "", "fault kind `F` (simulate list)")
	fs.StringVar(&c.backend, "backend", "sim", "run on `sim|real`: the simulator, or PostgreSQL and RabbitMQ")
	fs.StringVar(&c.format, "format", "text", "output `FORMAT`: text, json, markdown or html")
	fs.IntVar(&c.seeds, "seeds", 100, "`N` seeds (runs) per cell, 5 by default with --backend real")
	fs.Uint64Var(&c.firstSeed, "first-seed", 1, "the first seed `S`: the seeds are S, S+1, ...")
	fs.IntVar(&c.commands, "commands", scenarios.DefaultLimits.MaxCommands, "at most `N` business commands per scenario")
	fs.BoolVar(&c.noShrink, "no-shrink", false, "report the first failing scenario as it was drawn")
	fs.BoolVar(&c.shrink, "shrink", false, "with --backend real: shrink the failing scenario too (each step is a real run; a step is kept only if its run breaks the invariant again)")
	b := scenarios.DefaultBounds
	fs.StringVar(&c.explore, "explore", "random", "exploration `MODE`: random (seeded draws) or exhaustive (every schedule within the --max-* bounds, one run each, in place of seeds)")
	fs.IntVar(&c.maxCommands, "max-commands", b.MaxCommands, "with --explore exhaustive: at most `N` business commands")
	fs.IntVar(&c.maxFaults, "max-faults", b.MaxFaults, "with --explore exhaustive: at most `N` faults of the cell's kind")
	fs.IntVar(&c.maxConsumers, "max-consumers", b.MaxConsumers, "with --explore exhaustive: at most `N` competing consumers (0: the fault kind's minimum)")
	fs.IntVar(&c.interleavings, "interleavings", b.Interleavings, "with --explore exhaustive: run each schedule with the interleaving seeds 1..`N`")
	fs.IntVar(&c.maxSchedules, "max-schedules", scenarios.DefaultMaxSchedules, "with --explore exhaustive: stop a cell after `N` schedules (it then reports the space as not exhausted)")
	return fs
}

// realSeeds is the default number of seeds per cell on real servers, where a run takes about a
// second instead of a tenth of a millisecond.
const realSeeds = 5

// parse parses flags and turns every problem into a one-line usage error; -h is a helpRequest.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return helpRequest{fs}
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	if b, s := fs.Lookup("backend"), fs.Lookup("seeds"); b != nil && s != nil && b.Value.String() == "real" {
		set := false
		fs.Visit(func(f *flag.Flag) { set = set || f.Name == "seeds" })
		if !set {
			_ = s.Value.Set(fmt.Sprint(realSeeds))
		}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

func (c *common) validate() error {
	if c.seeds < 1 {
		return usagef("--seeds must be 1 or more, got %d", c.seeds)
	}
	if c.commands < 1 || c.commands > 1000 {
		return usagef("--commands must be between 1 and 1000, got %d", c.commands)
	}
	switch c.explore {
	case "random", "exhaustive", "":
	default:
		return usagef("unknown --explore %q (random, exhaustive)", c.explore)
	}
	for _, f := range []struct {
		name      string
		value, lo int
	}{{"max-commands", c.maxCommands, 1}, {"max-faults", c.maxFaults, 1}, {"max-consumers", c.maxConsumers, 0}, {"interleavings", c.interleavings, 1}, {"max-schedules", c.maxSchedules, 1}} {
		if c.explore != "exhaustive" {
			break // the bounds are read only by an exhaustive exploration
		}
		if f.value < f.lo || f.value > 1000 && f.name != "max-schedules" {
			return usagef("--%s must be between %d and 1000, got %d", f.name, f.lo, f.value)
		}
	}
	switch c.format {
	case "text", "json", "markdown", "html":
	default:
		return usagef("unknown --format %q (text, json, markdown, html)", c.format)
	}
	return nil
}

func (c *common) options() scenarios.Options {
	opts := scenarios.DefaultOptions()
	opts.Seeds = c.seeds
	opts.FirstSeed = c.firstSeed
	opts.Limits.MaxCommands = c.commands
	// On real servers a run takes a second, not a hundred microseconds, and is not exactly
	// repeatable: the first failing scenario is reported as drawn, unless --shrink asks for it.
	opts.NoShrink = c.noShrink || c.backend == "real" && !c.shrink
	// The search for an expected break the first seeds did not draw scales with them, and is
	// left out on real servers, where each extra run costs a second.
	opts.Search = 9 * c.seeds
	if c.backend == "real" {
		opts.Search = 0
	}
	if c.explore == "exhaustive" {
		b := c.bounds()
		opts.Explore = &b
		opts.MaxSchedules = c.maxSchedules
	}
	return opts
}

// bounds are the exhaustive exploration's bounds the flags set.
func (c *common) bounds() scenarios.Bounds {
	return scenarios.Bounds{MaxCommands: c.maxCommands, MaxFaults: c.maxFaults, MaxConsumers: c.maxConsumers, Interleavings: c.interleavings}
}

// runsText says what each cell of a matrix runs, for the progress line.
func (c *common) runsText() string {
	if c.explore == "exhaustive" {
		return "every schedule within " + c.bounds().String()
	}
	return fmt.Sprintf("%d seeds each", c.seeds)
}

// timelineOptions carries the flags a replay-by-seed needs to rebuild the same scenario.
func (c *common) timelineOptions() reports.TimelineOptions {
	var o reports.TimelineOptions
	if c.commands != scenarios.DefaultLimits.MaxCommands {
		o.ReplayFlags += fmt.Sprintf(" --commands %d", c.commands)
	}
	if c.noShrink {
		o.ReplayFlags += " --no-shrink"
	}
	o.NotShrunk = c.options().NoShrink
	return o
}

func backendFor(ctx context.Context, name string) (harness.Backend, error) {
	switch name {
	case "sim":
		return harness.NewSim(), nil
	case "real":
		inf, err := infra.Discover(ctx)
		if err != nil {
			return nil, err
		}
		return real.NewBackend(inf), nil
	}
	return nil, usagef("unknown --backend %q (sim, real)", name)
}

// cell validates a fully named cell.
func (c *common) cell() (result.Cell, error) {
	for _, f := range []struct{ name, value string }{{"producer", c.producer}, {"consumer", c.consumer}, {"workload", c.workload}, {"fault", c.fault}} {
		if f.value == "" {
			return result.Cell{}, usagef("--%s is required (see `simulate list`)", f.name)
		}
	}
	cell := result.Cell{Producer: c.producer, Consumer: c.consumer, Workload: c.workload, Fault: c.fault}
	if err := checkNames(cell); err != nil {
		return cell, err
	}
	return cell, nil
}

// isService reports whether a producer name is a registered service's (package service).
func isService(name string) bool {
	p, err := strategies.LookupProducer(name)
	if err != nil {
		return false
	}
	_, ok := service.Of(p)
	return ok
}

// checkNames checks each non-empty name and that the combination can exist.
func checkNames(c result.Cell) error {
	var p strategies.Producer
	if c.Producer != "" {
		var err error
		if p, err = strategies.LookupProducer(c.Producer); err != nil {
			return usagef("%v", err)
		}
	}
	if c.Consumer != "" {
		if _, err := strategies.LookupConsumer(c.Consumer); err != nil {
			return usagef("%v", err)
		}
	}
	if c.Workload != "" {
		if _, err := workload.Lookup(c.Workload); err != nil {
			return usagef("%v", err)
		}
	}
	if c.Fault != "" {
		k, err := fault.Lookup(c.Fault)
		if err != nil {
			return usagef("%v", err)
		}
		if p != nil {
			if err := k.Possible(strategies.HasRelay(p)); err != nil {
				return usagef("impossible combination: %s with %v", p.Name(), err)
			}
		}
	}
	return nil
}

func cmdRun(ctx context.Context, args []string, stdout io.Writer) error {
	var c common
	fs := newFlags("run", &c)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := c.validate(); err != nil {
		return err
	}
	cell, err := c.cell()
	if err != nil {
		return err
	}
	b, err := backendFor(ctx, c.backend)
	if err != nil {
		return err
	}
	r, err := scenarios.RunCell(ctx, b, cell, c.options())
	if err != nil {
		return usageOr(err)
	}
	if err := render(stdout, c.format, []result.CellResult{r}, func(w io.Writer) error {
		return reports.Cell(w, r, c.timelineOptions())
	}); err != nil {
		return err
	}
	if len(r.Broken()) > 0 {
		return errFindings
	}
	return nil
}

// render writes results in the format asked for; text is the command's own text rendering.
func render(w io.Writer, format string, results []result.CellResult, text func(io.Writer) error) error {
	switch format {
	case "json":
		return reports.JSON(w, results)
	case "markdown":
		return reports.Markdown(w, results)
	case "html":
		return reports.HTML(w, results)
	default:
		return text(w)
	}
}

// usageOr turns harness usage errors into one-line usage errors.
func usageOr(err error) error {
	if errors.Is(err, harness.ErrUsage) {
		return usagef("%v", err)
	}
	return err
}

// selectCells filters the catalogue by the names given.
func selectCells(c common) ([]result.Cell, error) {
	sel := result.Cell{Producer: c.producer, Consumer: c.consumer, Workload: c.workload, Fault: c.fault}
	if err := checkNames(result.Cell{Producer: sel.Producer, Consumer: sel.Consumer, Workload: sel.Workload}); err != nil {
		return nil, err
	}
	if sel.Fault != "" {
		if _, err := fault.Lookup(sel.Fault); err != nil {
			return nil, usagef("%v", err)
		}
	}
	var out []result.Cell
	// A team's cells (its registered strategies and services) join when the selection names one
	// of them, or names neither a producer nor a consumer; not in the catalogue's own run
	// (`simulate` alone). A service's cells, which run on real servers only, join on the
	// simulator only when the selection names the service, and then say why they cannot run.
	cells := scenarios.Cells()
	builtin := func(name string, names []string) bool { return name == "" || slices.Contains(names, name) }
	named := !builtin(sel.Producer, strategies.ProducerNames()) || !builtin(sel.Consumer, strategies.ConsumerNames())
	if !c.catalogueOnly && (named || sel.Producer == "" && sel.Consumer == "") {
		for _, cell := range scenarios.TeamCells() {
			if isService(cell.Producer) && c.backend != "real" && !named {
				continue
			}
			cells = append(cells, cell)
		}
	}
	for _, cell := range cells {
		if (sel.Producer == "" || sel.Producer == cell.Producer) &&
			(sel.Consumer == "" || sel.Consumer == cell.Consumer) &&
			(sel.Workload == "" || sel.Workload == cell.Workload) &&
			(sel.Fault == "" || sel.Fault == cell.Fault) {
			out = append(out, cell)
		}
	}
	if len(out) == 0 {
		return nil, usagef("no cell of the catalogue or of the registered strategies matches %s", sel)
	}
	return out, nil
}

// matrixRun runs the selected cells with a progress line and reports elapsed time.
func matrixRun(ctx context.Context, c common, stderr io.Writer, tty bool) ([]result.CellResult, time.Duration, error) {
	if err := c.validate(); err != nil {
		return nil, 0, err
	}
	cells, err := selectCells(c)
	if err != nil {
		return nil, 0, err
	}
	if c.shard.N > 1 {
		var part []result.Cell
		for _, i := range c.shard.Indices(len(cells)) {
			part = append(part, cells[i])
		}
		if len(part) == 0 {
			return nil, 0, usagef("shard %s of %d cells is empty: use fewer shards", c.shard, len(cells))
		}
		cells = part
	}
	b, err := backendFor(ctx, c.backend)
	if err != nil {
		return nil, 0, err
	}
	start := time.Now()
	progress := func(done, total int) {
		if tty {
			fmt.Fprintf(stderr, "\r%d/%d cells, %s, %.1fs", done, total, c.runsText(), time.Since(start).Seconds())
		} else if done == total || done%100 == 0 {
			fmt.Fprintf(stderr, "%d/%d cells, %s, %.1fs\n", done, total, c.runsText(), time.Since(start).Seconds())
		}
	}
	results, err := scenarios.RunMatrix(ctx, b, cells, c.options(), progress)
	if tty {
		fmt.Fprintln(stderr)
	}
	return results, time.Since(start), usageOr(err)
}

func differs(results []result.CellResult) int {
	n := 0
	for _, r := range results {
		if !r.Matches {
			n++
		}
	}
	return n
}

func cmdMatrix(ctx context.Context, args []string, stdout, stderr io.Writer, tty bool) error {
	var c common
	fs := newFlags("matrix", &c)
	out := fs.String("out", "", "also write matrix.txt, matrix.json, matrix.md, matrix.html and the counterexamples into `DIR`")
	shardFlag := fs.String("shard", "", "run shard `K/N` of the selection: every N-th cell from the K-th, all its seeds; with --out, also shard.json for simulate merge")
	if err := parse(fs, args); err != nil {
		return err
	}
	shard := scenarios.Whole
	if *shardFlag != "" {
		var err error
		if shard, err = scenarios.ParseShard(*shardFlag); err != nil {
			return usagef("--shard: %v", err)
		}
	}
	c.shard = shard
	results, _, runErr := matrixRun(ctx, c, stderr, tty)
	var ue usageError
	if runErr != nil && (errors.As(runErr, &ue) || ctx.Err() != nil || slices.ContainsFunc(results, func(r result.CellResult) bool { return r.Producer == "" })) {
		return runErr
	}
	// A cell whose runs the harness failed is '?' in the report, which is still written; the
	// command then exits 3 with the failures.
	if err := render(stdout, c.format, results, func(w io.Writer) error {
		return reports.Matrix(w, results, reports.MatrixOptions{})
	}); err != nil {
		return err
	}
	if *out != "" {
		if err := writeReport(*out, results); err != nil {
			return err
		}
		if *shardFlag != "" {
			all, err := selectCells(c)
			if err != nil {
				return err
			}
			if err := writeShard(*out, scenarios.NewShardResult(shard, len(all), shard.Indices(len(all)), results)); err != nil {
				return err
			}
		}
		fmt.Fprintf(stderr, "report written to %s\n", *out)
	}
	if runErr != nil {
		return runErr
	}
	if differs(results) > 0 {
		return errFindings
	}
	return nil
}

// defaultReportDir is where the no-argument run writes its report.
const defaultReportDir = "simulate-report"

func cmdDefault(ctx context.Context, stdout, stderr io.Writer, tty bool) error {
	var c common
	newFlags("simulate", &c) // every flag's default: the catalogue on the simulator, 100 seeds
	c.catalogueOnly = true
	results, took, err := matrixRun(ctx, c, stderr, tty)
	if err != nil {
		return err
	}
	if err := reports.Matrix(stdout, results, reports.MatrixOptions{}); err != nil {
		return err
	}
	if err := writeReport(defaultReportDir, results); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%d cells x %d seeds on the simulator in %.1fs; report written to %s/ (matrix.txt, matrix.md, matrix.html, matrix.json, counterexamples/)\n",
		len(results), c.seeds, took.Seconds(), defaultReportDir)
	fmt.Fprintf(stdout, "see one counterexample: go run ./cmd/simulate run --producer double-write --consumer naive --workload orders --fault crash-consumer\n")
	if differs(results) > 0 {
		return errFindings
	}
	return nil
}

// writeReport writes the matrix in every format and, per counterexample, its timeline, its
// shrunk scenario as JSON (which `simulate replay --scenario` reads) and, with the HTML matrix,
// its page (reports.HTMLSite): counterexamples/<name>.txt, .json and .html.
func writeReport(dir string, results []result.CellResult) error {
	cdir := filepath.Join(dir, "counterexamples")
	if err := os.MkdirAll(cdir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	write := func(name string, render func(io.Writer) error) error {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := render(f); err != nil {
			f.Close()
			return fmt.Errorf("report %s: %w", name, err)
		}
		return f.Close()
	}
	if err := write("matrix.txt", func(w io.Writer) error { return reports.Matrix(w, results, reports.MatrixOptions{}) }); err != nil {
		return err
	}
	if err := write("matrix.json", func(w io.Writer) error { return reports.JSON(w, results) }); err != nil {
		return err
	}
	if err := write("matrix.md", func(w io.Writer) error { return reports.Markdown(w, results) }); err != nil {
		return err
	}
	pages, err := reports.HTMLSite(results)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	for _, p := range pages {
		path := filepath.Join(dir, filepath.FromSlash(p.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		if err := os.WriteFile(path, p.Body, 0o644); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	for _, r := range results {
		if r.Counterexample == nil {
			continue
		}
		base := reports.CounterexampleName(r.Cell())
		scen := filepath.Join("counterexamples", base+".json")
		if err := write(scen, func(w io.Writer) error {
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			return enc.Encode(r.Counterexample.Scenario)
		}); err != nil {
			return err
		}
		opts := reports.TimelineOptions{ReplayFile: filepath.Join(dir, scen)}
		if err := write(filepath.Join("counterexamples", base+".txt"), func(w io.Writer) error {
			return reports.Timeline(w, r.Counterexample, r.Cell(), opts)
		}); err != nil {
			return err
		}
	}
	return nil
}

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

func cmdList(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("list", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := parse(fs, args); err != nil {
		return err
	}
	w := stdout
	fmt.Fprintln(w, "producer strategies:")
	for _, p := range append(strategies.Producers(), strategies.RegisteredProducers()...) {
		fmt.Fprintf(w, "  %-18s %s\n", p.Name(), p.Doc())
		fmt.Fprintf(w, "  %-18s points: %s\n", "", strings.Join(p.Points(), ", "))
		if r, ok := p.(strategies.Relay); ok {
			fmt.Fprintf(w, "  %-18s relay points: %s\n", "", strings.Join(r.RelayPoints(), ", "))
		}
	}
	fmt.Fprintln(w, "\nconsumer strategies:")
	for _, c := range append(strategies.Consumers(), strategies.RegisteredConsumers()...) {
		fmt.Fprintf(w, "  %-18s %s\n", c.Name(), c.Doc())
		fmt.Fprintf(w, "  %-18s points: %s\n", "", strings.Join(c.Points(), ", "))
	}
	fmt.Fprintln(w, "\nfaults:")
	for _, k := range fault.Kinds() {
		fmt.Fprintf(w, "  %-22s %s\n", k.Name, k.Doc)
	}
	fmt.Fprintln(w, "\nworkloads:")
	for _, wl := range workload.All() {
		fmt.Fprintf(w, "  %-10s %s\n", wl.Name, wl.Doc)
	}
	fmt.Fprintln(w, "\ninvariants:")
	for _, inv := range invariants.All() {
		fmt.Fprintf(w, "  %-20s %s\n", inv.Name(), inv.Doc())
	}
	fmt.Fprintln(w, "\ndemos:")
	writeDemoList(w)
	fmt.Fprintf(w, "\nbackends: sim (deterministic, no servers), real (PostgreSQL and RabbitMQ; log-tailing needs wal_level=logical)\n")
	return nil
}
