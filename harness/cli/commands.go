package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

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
	broker                              string // --broker: rabbitmq (the default) or nats
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
	fs.StringVar(&c.broker, "broker", history.BrokerRabbitMQ, "the broker `B`: "+strings.Join(history.Brokers(), ", "))
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
	fs.IntVar(&c.maxConsumers, "max-consumers", b.MaxConsumers, "at most `N` competing consumers (0: the fault kind's own draw; with --explore exhaustive, its minimum); the catalogue's expectations follow it")
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
	if err := c.validateBroker(); err != nil {
		return err
	}
	switch c.explore {
	case "random", "exhaustive", "":
	default:
		return usagef("unknown --explore %q (random, exhaustive)", c.explore)
	}
	if c.maxConsumers < 0 || c.maxConsumers > harness.MaxConsumers {
		return usagef("--max-consumers must be between 0 and %d, got %d", harness.MaxConsumers, c.maxConsumers)
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
	opts.Limits.MaxConsumers = c.maxConsumers // seeded draws; an exhaustive exploration reads its bounds
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
	if c.maxConsumers > 0 && c.explore != "exhaustive" {
		o.ReplayFlags += fmt.Sprintf(" --max-consumers %d", c.maxConsumers)
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
	cell := result.Cell{Producer: c.producer, Consumer: c.consumer, Workload: c.workload, Fault: c.fault, Broker: c.cellBroker()}
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
	writeBrokerList(w)
	fmt.Fprintf(w, "\nbackends: sim (deterministic, no servers), real (PostgreSQL and RabbitMQ; log-tailing needs wal_level=logical)\n")
	return nil
}
