package reports

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// exploredResult is a cell run by exhaustive exploration: 3 schedules, all of them, the duplicate
// found by schedule 2. With missing, it expected a break no schedule showed.
func exploredResult(missing bool) result.CellResult {
	dup := []invariants.Name{"no-duplicate-effect"}
	b := &result.Bounds{MaxCommands: 1, MaxFaults: 1, Interleavings: 1}
	r := cellResult("double-write", "naive", "orders", "crash-consumer", 3, ordersCounts(1, 0, 0), dup, true, "naive applies every copy")
	r.Explored, r.Exhausted, r.Bounds = 3, true, b
	r.Counterexample = duplicateCE()
	r.Counterexample.Schedule, r.Counterexample.Bounds = 2, b
	if missing {
		r.Expected = append(dup, "no-lost-effect")
		r.Matches = false
	}
	return r
}

// TestExploredInReports: every report says how many schedules a cell explored, within which
// bounds and whether that was all of them, and gives the --schedule replay command; JSON carries
// explored, exhausted, bounds and the counterexample's schedule_index.
func TestExploredInReports(t *testing.T) {
	one := func(missing bool) []result.CellResult { return []result.CellResult{exploredResult(missing)} }
	replay := "replay --producer double-write --consumer naive --workload orders --fault crash-consumer --schedule 2 --max-commands 1 --max-faults 1 --interleavings 1"
	tests := []struct {
		name   string
		render func(io.Writer) error
		want   []string
	}{
		{"text cell", func(w io.Writer) error { return Cell(w, exploredResult(false)) },
			[]string{"3 runs; explored 3 schedules within commands <= 1, faults <= 1, consumers <= the kind's minimum, 1 interleaving: all of them", "schedule 2 of an exhaustive exploration", replay}},
		{"text matrix", func(w io.Writer) error { return Matrix(w, one(true), MatrixOptions{}) },
			[]string{"exhaustive exploration within commands <= 1", "every schedule explored in 1 of 1 cells", "bounds explored 3 schedules", "none broke no-lost-effect, which needs larger bounds"}},
		{"markdown", func(w io.Writer) error { return Markdown(w, one(true)) },
			[]string{"every schedule explored in 1 of 1 cells", "Explored 3 schedules within", "none broke no-lost-effect, which needs larger bounds", replay}},
		{"html", func(w io.Writer) error { return HTML(w, one(true)) },
			[]string{"every schedule explored in 1 of 1 cells", "Explored 3 schedules within", replay}},
		{"json", func(w io.Writer) error { return JSON(w, one(false)) },
			[]string{`"explored": 3`, `"exhausted": true`, `"max_commands": 1`, `"schedule_index": 2`, replay}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.render(&buf); err != nil {
				t.Fatal(err)
			}
			got := strings.Join(strings.Fields(strings.NewReplacer("&lt;", "<", "&#39;", "'").Replace(buf.String())), " ")
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("no %q in:\n%s", w, buf.String())
				}
			}
		})
	}
}

// TestNotExploredJSON: under random sampling the JSON has no exploration fields.
func TestNotExploredJSON(t *testing.T) {
	var buf bytes.Buffer
	r := cellResult("double-write", "naive", "orders", "crash-consumer", 3, ordersCounts(1, 0, 0), nil, false, "")
	if err := JSON(&buf, []result.CellResult{r}); err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"explored"`, `"exhausted"`, `"bounds"`, `"schedule_index"`} {
		if strings.Contains(buf.String(), field) {
			t.Errorf("random sampling's JSON has %s:\n%s", field, buf.String())
		}
	}
}
