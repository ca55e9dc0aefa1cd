package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/reports"
)

// replayLine matches the replay command a text counterexample names.
var replayLine = regexp.MustCompile(`(?m)^replay: (go run \./cmd/simulate replay .*)$`)

func TestRunExitStatus(t *testing.T) {
	tests := []struct {
		name string
		cell cellArgs
		want int
	}{
		{"broken cell", brokenCell, exitFindings},
		{"correct cell", holdingCell, exitOK},
		{"correct cell without faults", cellArgs{"outbox", "inbox", "credits", "none"}, exitOK},
		{"broken credits", brokenCells[1], exitFindings},
		{"broken prices", brokenCells[2], exitFindings},
		{"broken with competing consumers", brokenCells[3], exitFindings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := args("run", tc.cell, "--seeds", "30")
			r := simulate(t, a...)
			requireCode(t, r, tc.want, a)
			if r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
			// The report names the cell and the number of runs.
			for _, w := range []string{tc.cell.producer, tc.cell.consumer, tc.cell.workload, tc.cell.fault, "30 runs"} {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output does not mention %q:\n%s", w, clip(r.stdout))
				}
			}
			m := replayLine.FindStringSubmatch(r.stdout)
			if tc.want == exitOK {
				if m != nil {
					t.Errorf("a cell that holds names a replay command: %q", m[1])
				}
				return
			}
			if m == nil {
				t.Fatalf("a broken cell names no replay command:\n%s", clip(r.stdout))
			}
			wantPrefix := "go run ./cmd/simulate replay " + strings.Join(tc.cell.flags(), " ") + " --seed "
			if !strings.HasPrefix(m[1], wantPrefix) {
				t.Errorf("replay command %q, want it to start with %q", m[1], wantPrefix)
			}
			// Following the printed command shows the same counterexample and the same exit.
			ra := replayArgs(t, m[1])
			rr := simulate(t, ra...)
			requireCode(t, rr, exitFindings, ra)
			_, counterexample, _ := strings.Cut(r.stdout, "counterexample:\n")
			if rr.stdout != counterexample {
				t.Errorf("%s shows\n%s\nwant the run's counterexample\n%s", m[1], clip(rr.stdout), clip(counterexample))
			}
		})
	}
}

func TestRunJSONContract(t *testing.T) {
	tests := []struct {
		name    string
		cell    cellArgs
		broken  bool
		applies []invariants.Name // invariants the workload is checked against
	}{
		{"broken orders", brokenCell, true, []invariants.Name{"no-duplicate-effect", "no-lost-effect", "no-phantom-effect"}},
		{"holds orders", holdingCell, false, []invariants.Name{"no-duplicate-effect", "no-lost-effect", "no-phantom-effect"}},
		{"broken credits", brokenCells[1], true, []invariants.Name{"balance"}},
		{"broken prices", brokenCells[2], true, []invariants.Name{"converges"}},
		{"holds prices", cellArgs{"outbox", "natural", "prices", "lost-ack"}, false, []invariants.Name{"converges"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := args("run", tc.cell, "--seeds", "30", "--format", "json")
			r := simulate(t, a...)
			want := exitOK
			if tc.broken {
				want = exitFindings
			}
			requireCode(t, r, want, a)
			cells := decodeCells(t, r.stdout)
			if len(cells) != 1 {
				t.Fatalf("%d cells, want 1", len(cells))
			}
			c := cells[0]
			got := cellArgs{c.Producer, c.Consumer, c.Workload, c.Fault}
			if got != tc.cell {
				t.Errorf("cell %v, want %v", got, tc.cell)
			}
			if c.Backend != "sim" {
				t.Errorf("backend %q, want sim", c.Backend)
			}
			if c.Runs != 30 {
				t.Errorf("runs %d, want 30", c.Runs)
			}
			if !c.Matches {
				t.Errorf("the cell differs from the catalogue: %+v", c)
			}
			broke := 0
			for name, n := range c.Violations {
				if !slices.Contains(catalogueInvariants, string(name)) {
					t.Errorf("violations names %q, not an invariant of the catalogue", name)
				}
				if n < 0 || n > c.Runs {
					t.Errorf("violations[%q] = %d, want 0..%d", name, n, c.Runs)
				}
				broke += n
			}
			for _, name := range tc.applies {
				if _, ok := c.Violations[name]; !ok {
					t.Errorf("violations has no entry for %q: %v", name, c.Violations)
				}
			}
			if !tc.broken {
				if broke != 0 {
					t.Errorf("a cell that holds has violations %v", c.Violations)
				}
				if c.Counterexample != nil {
					t.Errorf("a cell that holds has a counterexample %+v", *c.Counterexample)
				}
				return
			}
			if broke == 0 {
				t.Errorf("a broken cell has no violations: %v", c.Violations)
			}
			ce := c.Counterexample
			if ce == nil {
				t.Fatal("a broken cell has no counterexample")
			}
			if ce.Seed < 1 || ce.Seed > 30 {
				t.Errorf("counterexample seed %d is not one of the seeds run (1..30)", ce.Seed)
			}
			if c.Violations[ce.Invariant] == 0 {
				t.Errorf("counterexample breaks %q, which no run broke: %v", ce.Invariant, c.Violations)
			}
			if len(ce.Timeline) == 0 {
				t.Error("counterexample has no timeline")
			}
			for i, l := range ce.Timeline {
				if !timelineRow.MatchString(l) || !strings.HasPrefix(strings.TrimSpace(l), fmt.Sprint(i+1)+" ") {
					t.Errorf("timeline line %d is not numbered %d: %q", i, i+1, l)
				}
			}
			if sc := ce.Scenario; (cellArgs{sc.Producer, sc.Consumer, sc.Workload, sc.Fault}) != tc.cell || len(sc.Commands) == 0 {
				t.Errorf("counterexample scenario %+v, want one of the cell with its commands", sc)
			}
			if len(ce.Violations) == 0 {
				t.Error("counterexample has no violations")
			}
			wantReplay := fmt.Sprintf("go run ./cmd/simulate replay %s --seed %d", strings.Join(tc.cell.flags(), " "), ce.Seed)
			if ce.Replay != wantReplay {
				t.Errorf("replay %q, want %q", ce.Replay, wantReplay)
			}
		})
	}
}

// brokenJSON runs a broken cell in JSON and returns its counterexample.
func brokenJSON(t *testing.T, cell cellArgs, extra ...string) *reports.JSONCounterexample {
	t.Helper()
	a := args("run", cell, append([]string{"--seeds", "30", "--format", "json"}, extra...)...)
	r := simulate(t, a...)
	requireCode(t, r, exitFindings, a)
	cells := decodeCells(t, r.stdout)
	if len(cells) != 1 || cells[0].Counterexample == nil {
		t.Fatalf("want one cell with a counterexample:\n%s", clip(r.stdout))
	}
	return cells[0].Counterexample
}

func TestReplaySeedReproduces(t *testing.T) {
	tests := []struct {
		cell  cellArgs
		extra []string
	}{
		{brokenCell, nil},
		{brokenCell, []string{"--first-seed", "12"}},
		{brokenCells[1], nil},
		{brokenCells[2], nil},
		{brokenCells[3], []string{"--first-seed", "40"}},
		{brokenCells[4], nil},
	}
	for _, tc := range tests {
		t.Run(tc.cell.String()+strings.Join(tc.extra, ""), func(t *testing.T) {
			ce := brokenJSON(t, tc.cell, tc.extra...)
			a := args("replay", tc.cell, "--seed", fmt.Sprint(ce.Seed))
			first := simulate(t, a...)
			requireCode(t, first, exitFindings, a)
			second := simulate(t, a...)
			requireCode(t, second, exitFindings, a)
			if first.stdout != second.stdout {
				t.Fatalf("two replays differ:\n--- first\n%s\n--- second\n%s", clip(first.stdout), clip(second.stdout))
			}
			if first.stderr != "" {
				t.Errorf("stderr %q, want nothing", first.stderr)
			}
			if rows := timelineRows(first.stdout); !slices.Equal(rows, ce.Timeline) {
				t.Errorf("replay timeline\n%s\nwant the run's\n%s", strings.Join(rows, "\n"), strings.Join(ce.Timeline, "\n"))
			}
			if !strings.Contains(first.stdout, "replay: "+ce.Replay+"\n") {
				t.Errorf("replay output does not name %q:\n%s", ce.Replay, clip(first.stdout))
			}
			for _, v := range ce.Violations {
				if !strings.Contains(first.stdout, v.Detail) {
					t.Errorf("replay output does not show violation %q", v.Detail)
				}
			}
			// The JSON's replay command is the same invocation.
			if ra := replayArgs(t, ce.Replay); !slices.Equal(ra, a) {
				t.Errorf("JSON replay command runs %q, want %q", ra, a)
			}
		})
	}
}

func TestReplayScenarioFile(t *testing.T) {
	dir := t.TempDir()
	for i, cell := range brokenCells {
		t.Run(cell.String(), func(t *testing.T) {
			ce := brokenJSON(t, cell)
			whole, err := json.Marshal(ce)
			if err != nil {
				t.Fatal(err)
			}
			bare, err := json.Marshal(ce.Scenario)
			if err != nil {
				t.Fatal(err)
			}
			// A bare scenario and a whole counterexample object are both accepted.
			for form, data := range map[string][]byte{"scenario": bare, "counterexample": whole} {
				path := filepath.Join(dir, fmt.Sprintf("%d-%s.json", i, form))
				if err := os.WriteFile(path, data, 0o644); err != nil {
					t.Fatal(err)
				}
				a := []string{"replay", "--scenario", path}
				r := simulate(t, a...)
				requireCode(t, r, exitFindings, a)
				if r.stderr != "" {
					t.Errorf("%s: stderr %q, want nothing", form, r.stderr)
				}
				title := fmt.Sprintf("%s / %s / %s under %s: ", cell.producer, cell.consumer, cell.workload, cell.fault)
				if !strings.HasPrefix(r.stdout, title) || !strings.Contains(strings.SplitN(r.stdout, "\n", 2)[0], string(ce.Invariant)) {
					t.Errorf("%s: first line does not name the cell and %q:\n%s", form, ce.Invariant, clip(r.stdout))
				}
				got := section(r.stdout, "violations:")
				if len(got) != len(ce.Violations) {
					t.Fatalf("%s: %d violations\n%s\nwant %d", form, len(got), strings.Join(got, "\n"), len(ce.Violations))
				}
				for j, v := range ce.Violations {
					f := strings.Fields(got[j])
					if len(f) == 0 || f[0] != string(v.Invariant) || !strings.HasSuffix(got[j], v.Detail) {
						t.Errorf("%s: violation %d is %q, want %s ... %s", form, j, got[j], v.Invariant, v.Detail)
					}
				}
				// The shrunk scenario replays to the same timeline as the seed.
				if rows := timelineRows(r.stdout); !slices.Equal(rows, ce.Timeline) {
					t.Errorf("%s: timeline\n%s\nwant\n%s", form, strings.Join(rows, "\n"), strings.Join(ce.Timeline, "\n"))
				}
			}
		})
	}
}

func TestMatrix(t *testing.T) {
	// 40 seeds: the rarer duplicates under partition-db need more than 20 to be found (see the
	// report that comes with these tests).
	sel := []string{"matrix", "--workload", "orders", "--producer", "outbox", "--seeds", "40"}
	cells := len(catalogueConsumers) * len(catalogueFaults) // outbox x every consumer x every fault

	t.Run("text", func(t *testing.T) {
		r := simulate(t, sel...)
		requireCode(t, r, exitOK, sel)
		if !strings.Contains(r.stdout, "0 differing") {
			t.Errorf("matrix does not report 0 differing cells:\n%s", clip(r.stdout))
		}
		for _, c := range catalogueConsumers {
			if !strings.Contains(r.stdout, "outbox/"+c+" ") {
				t.Errorf("matrix has no row for outbox/%s", c)
			}
		}
	})

	t.Run("json", func(t *testing.T) {
		a := append(slices.Clone(sel), "--format", "json")
		r := simulate(t, a...)
		requireCode(t, r, exitOK, a)
		got := decodeCells(t, r.stdout)
		if len(got) != cells {
			t.Errorf("%d cells, want %d", len(got), cells)
		}
		for _, c := range got {
			if c.Producer != "outbox" || c.Workload != "orders" || !c.Matches || c.Runs != 40 {
				t.Errorf("cell %+v: want outbox, orders, 40 runs, matching the catalogue", c)
			}
		}
	})

	t.Run("out", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "report")
		a := append(slices.Clone(sel), "--out", dir)
		r := simulate(t, a...)
		requireCode(t, r, exitOK, a)
		if !strings.Contains(r.stderr, dir) {
			t.Errorf("stderr does not name the report folder %s", dir)
		}
		for _, name := range []string{"matrix.txt", "matrix.json", "matrix.md", "matrix.html"} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if len(data) == 0 {
				t.Errorf("%s is empty", name)
			}
			if name == "matrix.json" {
				if got := decodeCells(t, string(data)); len(got) != cells {
					t.Errorf("matrix.json has %d cells, want %d", len(got), cells)
				}
			}
		}
		scenarios, err := filepath.Glob(filepath.Join(dir, "counterexamples", "*.json"))
		if err != nil {
			t.Fatal(err)
		}
		if len(scenarios) == 0 {
			t.Fatal("no counterexample written under counterexamples/")
		}
		// Every counterexample file replays to a broken invariant, and its timeline says how.
		for _, path := range scenarios {
			a := []string{"replay", "--scenario", path}
			rr := simulate(t, a...)
			requireCode(t, rr, exitFindings, a)
			txt, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".txt")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(txt), "replay --scenario "+path) {
				t.Errorf("%s.txt does not name its scenario file", strings.TrimSuffix(path, ".json"))
			}
			if rows := timelineRows(rr.stdout); !slices.Equal(rows, timelineRows(string(txt))) {
				t.Errorf("%s replays to a different timeline than the report shows", path)
			}
		}
		// The HTML matrix links each counterexample's own page, which draws it and links back;
		// the matrix page itself draws none.
		matrix, err := os.ReadFile(filepath.Join(dir, "matrix.html"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(matrix), `<svg class="sequence"`) {
			t.Errorf("matrix.html draws a counterexample; they belong on their own pages")
		}
		for _, path := range scenarios {
			name := strings.TrimSuffix(filepath.Base(path), ".json")
			page, err := os.ReadFile(strings.TrimSuffix(path, ".json") + ".html")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(matrix), `href="counterexamples/`+name+`.html#ce-`) {
				t.Errorf("matrix.html does not link to counterexamples/%s.html", name)
			}
			if !strings.Contains(string(page), `<svg class="sequence"`) || !strings.Contains(string(page), `href="../matrix.html#cell-`+name+`"`) {
				t.Errorf("counterexamples/%s.html lacks its diagram or its link back to the matrix", name)
			}
		}
	})
}

// TestRunHTML: one cell as a self-contained HTML page, its counterexample drawn as a sequence
// diagram; the exit status is run's, whatever the format.
func TestRunHTML(t *testing.T) {
	a := []string{"run", "--producer", "outbox", "--consumer", "naive", "--workload", "orders", "--fault", "crash-relay", "--format", "html"}
	r := simulate(t, a...)
	requireCode(t, r, exitFindings, a)
	for _, want := range []string{"<!DOCTYPE html>", "<svg", "outbox / naive / orders under crash-relay", "effect #2 of order-1 (duplicate)"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	for _, outside := range []string{"http://", "https://", "<script src"} {
		if strings.Contains(r.stdout, outside) {
			t.Errorf("the page refers outside itself: %q", outside)
		}
	}
}

// TestRunSaysWhatTheSearchDrew: when the first seeds miss the expected break, the text says how
// many more seeds the search drew and which one broke what, and the JSON carries the same under
// searched and found_by_search.
func TestRunSaysWhatTheSearchDrew(t *testing.T) {
	cell := cellArgs{"outbox", "naive", "orders", "crash-relay"} // a duplicate the first 4 seeds do not draw
	a := args("run", cell, "--seeds", "4", "--format", "json")
	r := simulate(t, a...)
	requireCode(t, r, exitFindings, a)
	var doc reports.JSONReport
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Cells) != 1 {
		t.Fatalf("not one cell of JSON (%v):\n%s", err, clip(r.stdout))
	}
	c := doc.Cells[0]
	seed, found := c.FoundBySearch["no-duplicate-effect"]
	if c.Runs != 4 || c.Violations["no-duplicate-effect"] != 0 || !found || c.Searched < 1 || !c.Matches {
		t.Fatalf("cell %+v, want 4 runs without a duplicate, then the search finding it", c)
	}
	if first, last := uint64(5), uint64(4+c.Searched); seed != last || seed < first {
		t.Errorf("found at seed %d, want the last of the %d searched seeds 5..%d", seed, c.Searched, last)
	}

	a = args("run", cell, "--seeds", "4")
	r = simulate(t, a...)
	requireCode(t, r, exitFindings, a)
	seeds := "1 more seed"
	if c.Searched > 1 {
		seeds = fmt.Sprintf("%d more seeds", c.Searched)
	}
	want := fmt.Sprintf("backend sim, 4 runs; the search drew %s: seed %d broke no-duplicate-effect\n", seeds, seed)
	if _, head, _ := strings.Cut(r.stdout, "\n"); !strings.HasPrefix(head, want) {
		t.Errorf("the second line is not %q:\n%s", want, clip(r.stdout))
	}
}
