package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/reports"
	"github.com/deliveryharness/harness/scenarios"
)

// The catalogue names are a contract: the CLI, the reports and outside checks use them.
var (
	catalogueProducers  = []string{"double-write", "publish-first", "outbox", "log-tailing"}
	catalogueConsumers  = []string{"naive", "ack-first", "inbox", "inbox-racy", "natural", "redelivered-flag", "versioned", "idempotency-key", "dedup-window"}
	catalogueFaults     = []string{"none", "crash-producer", "crash-relay", "crash-consumer", "ambiguous-commit", "lost-ack", "lost-confirm", "partition-broker", "partition-db", "broker-down", "concurrent-consumers", "latency", "reorder", "broker-restart", "concurrent-producers", "late-redelivery", "new-subscriber"}
	catalogueWorkloads  = []string{"orders", "credits", "prices", "emails", "chain"}
	catalogueInvariants = []string{"no-duplicate-effect", "no-lost-effect", "no-phantom-effect", "converges", "balance", "no-ghost-message", "same-output"}
)

// invocation is what one run of the CLI produced: its exit code and its output.
type invocation struct {
	code           int
	stdout, stderr string
}

// simulate runs the CLI in-process with args, as `simulate args...` would, and fails the test if
// it panics.
func simulate(t *testing.T, args ...string) invocation {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := func() (code int) {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("simulate %s: panic: %v", strings.Join(args, " "), p)
			}
		}()
		return run(context.Background(), args, &stdout, &stderr, false)
	}()
	return invocation{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// requireCode fails the test unless the invocation exited with want.
func requireCode(t *testing.T, r invocation, want int, args []string) {
	t.Helper()
	if r.code != want {
		t.Fatalf("simulate %s: exit %d, want %d\nstderr: %s\nstdout:\n%s", strings.Join(args, " "), r.code, want, r.stderr, clip(r.stdout))
	}
}

// clip shortens long output for failure messages.
func clip(s string) string {
	const n = 3000
	if len(s) > n {
		return s[:n] + "\n[...]"
	}
	return s
}

// cellArgs names a cell as the CLI's flags.
type cellArgs struct{ producer, consumer, workload, fault string }

func (c cellArgs) flags() []string {
	return []string{"--producer", c.producer, "--consumer", c.consumer, "--workload", c.workload, "--fault", c.fault}
}

func (c cellArgs) String() string {
	return c.producer + "/" + c.consumer + "/" + c.workload + "/" + c.fault
}

// args builds an argument list: a command, a cell's flags, then extra flags.
func args(cmd string, c cellArgs, extra ...string) []string {
	out := append([]string{cmd}, c.flags()...)
	return append(out, extra...)
}

// Cells whose outcome the catalogue fixes: broken ones must break within a few seeds.
var (
	brokenCell  = cellArgs{"double-write", "naive", "orders", "crash-consumer"}
	holdingCell = cellArgs{"outbox", "inbox", "orders", "crash-relay"}
	// brokenCells span the workloads, the producers and single or competing consumers.
	brokenCells = []cellArgs{
		brokenCell,
		{"publish-first", "naive", "credits", "crash-producer"},
		{"double-write", "ack-first", "prices", "crash-consumer"},
		{"outbox", "inbox-racy", "orders", "concurrent-consumers"},
		{"outbox", "redelivered-flag", "orders", "lost-confirm"},
	}
)

// decodeCells decodes a JSON report and checks that every cell carries the contract's fields,
// by their names, with the right JSON types; then it reads the cells as the report's own type.
func decodeCells(t *testing.T, out string) []reports.JSONCell {
	t.Helper()
	var raw struct {
		Cells []map[string]json.RawMessage `json:"cells"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	if err := dec.Decode(&raw); err != nil {
		t.Fatalf("output is not a JSON report: %v\n%s", err, clip(out))
	}
	if dec.More() {
		t.Fatalf("output has more after the JSON report:\n%s", clip(out))
	}
	if len(raw.Cells) == 0 {
		t.Fatalf("JSON report has no cells:\n%s", clip(out))
	}
	kinds := map[string]byte{
		"producer": '"', "consumer": '"', "workload": '"', "fault": '"', "backend": '"',
		"runs": '0', "violations": '{', "counterexample": 'n', // 'n': null or an object
	}
	for i, cell := range raw.Cells {
		for field, kind := range kinds {
			v, ok := cell[field]
			if !ok {
				t.Fatalf("cell %d has no %q field", i, field)
			}
			v = bytes.TrimSpace(v)
			first := v[0]
			switch {
			case kind == '0' && (first == '-' || first >= '0' && first <= '9'):
			case kind == 'n' && (string(v) == "null" || first == '{'):
			case kind == first:
			default:
				t.Fatalf("cell %d: %q is %s, not the contract's type", i, field, v)
			}
		}
		var vs map[string]json.RawMessage
		if err := json.Unmarshal(cell["violations"], &vs); err != nil {
			t.Fatalf("cell %d: violations: %v", i, err)
		}
		for name, n := range vs {
			var f float64
			if err := json.Unmarshal(n, &f); err != nil {
				t.Fatalf("cell %d: violations[%q] = %s, not a number", i, name, n)
			}
		}
	}
	var cells reports.JSONReport
	if err := json.Unmarshal([]byte(out), &cells); err != nil {
		t.Fatalf("JSON report: %v", err)
	}
	return cells.Cells
}

// timelineRow matches a numbered event line of a timeline: "  12  t=16  consumer-1  CRASH ...".
var timelineRow = regexp.MustCompile(`^\s*\d+\s+t=\d+\s`)

// timelineRows returns the numbered event lines of a text timeline.
func timelineRows(text string) []string {
	var rows []string
	for _, l := range strings.Split(text, "\n") {
		if timelineRow.MatchString(l) {
			rows = append(rows, l)
		}
	}
	return rows
}

// replayArgs turns a printed replay command ("go run ./cmd/simulate replay ...") into run's args.
func replayArgs(t *testing.T, cmd string) []string {
	t.Helper()
	const prefix = "go run ./cmd/simulate "
	if !strings.HasPrefix(cmd, prefix+"replay ") {
		t.Fatalf("replay command %q does not start with %q", cmd, prefix+"replay ")
	}
	return strings.Fields(strings.TrimPrefix(cmd, prefix))
}

// section returns the lines of a text block that follow the line header, up to a blank line.
func section(text, header string) []string {
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != header {
			continue
		}
		var out []string
		for _, l := range lines[i+1:] {
			if strings.TrimSpace(l) == "" {
				break
			}
			out = append(out, l)
		}
		return out
	}
	return nil
}

func TestHelp(t *testing.T) {
	for _, a := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		r := simulate(t, a...)
		requireCode(t, r, exitOK, a)
		for _, cmd := range []string{"run", "matrix", "replay", "list"} {
			if !strings.Contains(r.stdout, "simulate "+cmd) {
				t.Errorf("simulate %s: usage does not mention %q", a[0], "simulate "+cmd)
			}
		}
		if r.stderr != "" {
			t.Errorf("simulate %s: stderr %q, want nothing", a[0], r.stderr)
		}
	}
}

func TestList(t *testing.T) {
	a := []string{"list"}
	r := simulate(t, a...)
	requireCode(t, r, exitOK, a)
	if r.stderr != "" {
		t.Errorf("stderr %q, want nothing", r.stderr)
	}
	// Each section lists one entry a line, its name first; continuation lines are indented more.
	for _, tc := range []struct {
		header string
		names  []string
	}{
		{"producer strategies:", catalogueProducers},
		{"consumer strategies:", catalogueConsumers},
		{"faults:", catalogueFaults},
		{"workloads:", catalogueWorkloads},
		{"invariants:", catalogueInvariants},
	} {
		t.Run(strings.TrimSuffix(tc.header, ":"), func(t *testing.T) {
			listed := map[string]bool{}
			for _, l := range section(r.stdout, tc.header) {
				if strings.HasPrefix(l, "  ") && !strings.HasPrefix(l, "   ") {
					listed[strings.Fields(l)[0]] = true
				}
			}
			for _, name := range tc.names {
				if !listed[name] {
					t.Errorf("section %q does not list %q\n%s", tc.header, name, r.stdout)
				}
			}
		})
	}
}

func TestDeterministicOutput(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"run text broken", args("run", brokenCell, "--seeds", "30")},
		{"run text holds", args("run", holdingCell, "--seeds", "30")},
		{"run json", args("run", brokenCells[3], "--seeds", "30", "--format", "json")},
		{"run markdown", args("run", brokenCells[1], "--seeds", "30", "--format", "markdown")},
		{"run no-shrink", args("run", brokenCells[2], "--seeds", "30", "--no-shrink")},
		{"replay", args("replay", brokenCell, "--seed", "3")},
		{"matrix json", []string{"matrix", "--workload", "credits", "--producer", "publish-first", "--seeds", "10", "--format", "json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			first := simulate(t, tc.args...)
			second := simulate(t, tc.args...)
			if first.code != second.code {
				t.Fatalf("exit %d, then %d", first.code, second.code)
			}
			if first.stdout == "" {
				t.Fatalf("no output (exit %d, stderr %q)", first.code, first.stderr)
			}
			if first.stdout != second.stdout {
				t.Fatalf("two runs differ:\n--- first\n%s\n--- second\n%s", clip(first.stdout), clip(second.stdout))
			}
		})
	}
}

// The front door: `simulate` with no argument runs the whole catalogue on the simulator, exits 0
// (every cell agrees with the catalogue) and writes its report folder.
func TestDefaultRun(t *testing.T) {
	if testing.Short() {
		t.Skip("the whole catalogue: about 5 s")
	}
	t.Chdir(t.TempDir())
	r := simulate(t)
	requireCode(t, r, exitOK, nil)
	if !strings.Contains(r.stdout, fmt.Sprintf("%d cells x 100 seeds on the simulator", len(scenarios.Cells()))) {
		t.Errorf("no summary line:\n%s", clip(r.stdout))
	}
	for _, f := range []string{"matrix.txt", "matrix.md", "matrix.html", "matrix.json"} {
		if _, err := os.Stat(filepath.Join(defaultReportDir, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
}
