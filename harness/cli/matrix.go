package cli

// The matrix: the cells a selection names, their runs, and the report folder.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/reports"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

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
	cells := scenarios.BrokerCells(c.brokerName())
	builtin := func(name string, names []string) bool { return name == "" || slices.Contains(names, name) }
	named := !builtin(sel.Producer, strategies.ProducerNames()) || !builtin(sel.Consumer, strategies.ConsumerNames())
	if !c.catalogueOnly && (named || sel.Producer == "" && sel.Consumer == "") {
		for _, cell := range scenarios.TeamCells() {
			if isService(cell.Producer) && c.backend != "real" && !named {
				continue
			}
			if cell.Broker = c.cellBroker(); harness.BrokerFault(c.brokerName(), cell.Fault) != nil {
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
	// The HTML pages and the counterexamples' files are written at the same time (the renderers
	// only read the results); an error of the HTML pages is reported first, as when they came first.
	htmlErr := make(chan error, 1)
	go func() { htmlErr <- writeHTML(dir, results) }()
	ceErr := writeCounterexamples(dir, results, write)
	if err := <-htmlErr; err != nil {
		return err
	}
	return ceErr
}

// writeHTML writes the HTML matrix and its pages (reports.HTMLSite) into dir.
func writeHTML(dir string, results []result.CellResult) error {
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
	return nil
}

// writeCounterexamples writes, per counterexample, its shrunk scenario as JSON and its timeline.
func writeCounterexamples(dir string, results []result.CellResult, write func(name string, render func(io.Writer) error) error) error {
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
