package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/reports"
)

// handWritten is a scenario no seed and no schedule draws: two orders, the consumer dying after
// the second one's effect.
const handWritten = `{"producer": "double-write", "consumer": "naive", "workload": "orders", "fault": "crash-consumer",
 "seed": 7, "commands": [
  {"id": "order-1", "key": "order-1", "amount": 10, "seq": 1, "kind": "OrderPlaced"},
  {"id": "order-2", "key": "order-2", "amount": 20, "seq": 1, "kind": "OrderPlaced"}],
 "faults": [{"kind": "crash-consumer", "target": "consumer-1", "point": "consumer.after-effect", "nth": 2}],
 "consumers": 1, "prefetch": 1, "batch": 0}`

// TestReplayLinesRebuild: `replay --scenario FILE` prints only replay commands that rebuild the
// file's scenario. An exhaustive exploration's counterexample names its schedule and bounds, and
// replays by them; a shrunk, bare, edited or hand-written scenario replays from its file alone.
// Every printed command, run, gives the same scenario, history and verdict as the file.
func TestReplayLinesRebuild(t *testing.T) {
	dir := t.TempDir()
	explored := exhaustiveCounterexample(t, relayCrash, "--max-commands", "2")
	shrunk := brokenJSON(t, brokenCell)
	if explored.ScheduleIndex < 2 || explored.Bounds == nil || shrunk.ScheduleIndex != 0 {
		t.Fatalf("want an exhaustive counterexample past schedule 1 with its bounds, and a seed's: %d %v, %d",
			explored.ScheduleIndex, explored.Bounds, shrunk.ScheduleIndex)
	}
	edited := *explored
	edited.ScheduleIndex = 1 // the file's scenario is not schedule 1

	tests := []struct {
		name string
		data any    // what the file holds, as JSON
		want string // the replay commands' forms, in order: "schedule scenario", "scenario"
	}{
		{"exhaustive counterexample", explored, "schedule scenario"},
		{"exhaustive counterexample as result.Counterexample", map[string]any{
			"seed": explored.Seed, "scenario": explored.Scenario, "schedule": explored.ScheduleIndex, "bounds": explored.Bounds,
		}, "schedule scenario"},
		{"exhaustive scenario, bare", explored.Scenario, "scenario"},
		{"exhaustive counterexample, index edited", &edited, "scenario"},
		{"shrunk counterexample", shrunk, "scenario"},
		{"shrunk scenario, bare", shrunk.Scenario, "scenario"},
		{"hand-written scenario", json.RawMessage(handWritten), "scenario"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := json.Marshal(tc.data)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			a := []string{"replay", "--scenario", path}
			file := replayOf(t, a)
			if file.code != exitFindings {
				t.Fatalf("replay --scenario: exit %d, want %d (the scenarios all break):\n%s", file.code, exitFindings, clip(file.text))
			}
			var forms []string
			for _, cmd := range file.commands {
				switch {
				case strings.Contains(cmd, " --schedule "):
					forms = append(forms, "schedule")
				case strings.Contains(cmd, " --scenario "):
					forms = append(forms, "scenario")
					if !strings.HasSuffix(cmd, " --scenario "+path) {
						t.Errorf("command %q does not name the file %s", cmd, path)
					}
				default:
					forms = append(forms, "other")
				}
			}
			if got := strings.Join(forms, " "); got != tc.want {
				t.Fatalf("test %d: replay commands %q, want the forms %q", i, file.commands, tc.want)
			}
			for _, cmd := range file.commands {
				r := replayOf(t, replayArgs(t, cmd))
				if r.code != file.code || r.title != file.title || !slices.Equal(r.rows, file.rows) || !slices.Equal(r.violations, file.violations) {
					t.Errorf("%s gives exit %d\n%s\n%s\n%s\nwant the file's exit %d\n%s\n%s\n%s", cmd,
						r.code, r.title, strings.Join(r.rows, "\n"), strings.Join(r.violations, "\n"),
						file.code, file.title, strings.Join(file.rows, "\n"), strings.Join(file.violations, "\n"))
				}
				if len(r.commands) == 0 || r.commands[0] != file.commands[0] {
					t.Errorf("%s prints the commands %q, want first the file's %q", cmd, r.commands, file.commands[0])
				}
				if r.scenario != file.scenario {
					t.Errorf("%s rebuilds the scenario\n%s\nwant the file's\n%s", cmd, r.scenario, file.scenario)
				}
			}
		})
	}
}

// exhaustiveCounterexample runs a cell under --explore exhaustive as JSON and returns its
// counterexample.
func exhaustiveCounterexample(t *testing.T, cell []string, extra ...string) *reports.JSONCounterexample {
	t.Helper()
	a := append(append([]string{"run", "--explore", "exhaustive", "--format", "json"}, cell...), extra...)
	r := simulate(t, a...)
	requireCode(t, r, exitFindings, a)
	cells := decodeCells(t, r.stdout)
	if len(cells) != 1 || cells[0].Counterexample == nil {
		t.Fatalf("want one cell with a counterexample:\n%s", clip(r.stdout))
	}
	return cells[0].Counterexample
}

// replayed is what one replay showed: its exit code, its text (title, replay commands, timeline
// rows, violations) and, from the same replay as JSON, the scenario it ran.
type replayed struct {
	code       int
	text       string
	title      string
	commands   []string
	rows       []string
	violations []string
	scenario   string
}

// replayOf runs a replay as text and again as JSON.
func replayOf(t *testing.T, a []string) replayed {
	t.Helper()
	r := simulate(t, a...)
	out := replayed{code: r.code, text: r.stdout, rows: timelineRows(r.stdout), violations: section(r.stdout, "violations:")}
	lines := strings.Split(r.stdout, "\n")
	out.title = lines[0]
	for _, l := range lines {
		for _, label := range []string{"replay: ", "    or: "} {
			if cmd, ok := strings.CutPrefix(l, label); ok {
				out.commands = append(out.commands, cmd)
			}
		}
	}
	ja := append(slices.Clone(a), "--format", "json")
	j := simulate(t, ja...)
	requireCode(t, j, r.code, ja)
	cells := decodeCells(t, j.stdout)
	if len(cells) != 1 || cells[0].Counterexample == nil {
		t.Fatalf("%s: want one cell with a counterexample:\n%s", strings.Join(ja, " "), clip(j.stdout))
	}
	sc, err := json.Marshal(cells[0].Counterexample.Scenario)
	if err != nil {
		t.Fatal(err)
	}
	out.scenario = string(sc)
	if want := out.commands; len(want) == 0 || cells[0].Counterexample.Replay != want[0] {
		t.Errorf("%s: the JSON's replay command %q is not the text's first, %q", strings.Join(a, " "), cells[0].Counterexample.Replay, want)
	}
	return out
}
