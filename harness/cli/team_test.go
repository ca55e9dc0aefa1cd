package cli

import (
	"strings"
	"testing"

	"github.com/deliveryharness/harness/strategies"
	"github.com/deliveryharness/harness/strategies/strategytest"
)

// Registered in init, before TestMain's worker hook, as a team's own command registers before
// cli.Main.
func init() {
	if err := strategies.RegisterConsumer("team-forgetful", func() strategies.Consumer { return strategytest.NewMemoryDedup("team-forgetful") }); err != nil {
		panic(err)
	}
}

// The CLI serves a registered team strategy: list shows it, run and replay find its break under
// crash-consumer (exit 1), and it holds without faults.
func TestTeamStrategyThroughTheCLI(t *testing.T) {
	if r := simulate(t, "list"); r.code != exitOK || !strings.Contains(r.stdout, "team-forgetful") {
		t.Fatalf("list: exit %d, team-forgetful missing:\n%s", r.code, clip(r.stdout))
	}
	cell := cellArgs{"outbox", "team-forgetful", "orders", "crash-consumer"}
	for _, tc := range []struct {
		name string
		args []string
		want int
	}{
		{"run", args("run", cell, "--seeds", "5"), exitFindings},
		{"replay", args("replay", cell, "--seed", "1"), exitFindings},
		{"run without faults", args("run", cellArgs{"outbox", "team-forgetful", "orders", "none"}, "--seeds", "5"), exitOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(t, tc.args...)
			requireCode(t, r, tc.want, tc.args)
		})
	}
}

// The matrix holds a team's cells when the selection names its strategy: every producer with
// it, each expected to keep every invariant, so a break makes the cell differ (exit 1). A
// selection of built-ins alone keeps to the catalogue.
func TestTeamCellsInTheMatrix(t *testing.T) {
	r := simulate(t, "matrix", "--consumer", "team-forgetful", "--workload", "orders", "--fault", "crash-consumer", "--seeds", "10", "--format", "json")
	if r.code != exitFindings {
		t.Fatalf("exit %d, want %d (the forgetful consumer pays twice after a crash):\n%s", r.code, exitFindings, clip(r.stderr))
	}
	for _, p := range strategies.ProducerNames() {
		if !strings.Contains(r.stdout, `"producer": "`+p+`"`) {
			t.Errorf("no cell of %s with team-forgetful", p)
		}
	}
	if !strings.Contains(r.stdout, "a team's own strategy") {
		t.Errorf("the team's cells do not say whose claim they test")
	}
	r = simulate(t, "matrix", "--producer", "outbox", "--workload", "orders", "--fault", "crash-consumer", "--seeds", "5", "--format", "json")
	if strings.Contains(r.stdout, "team-forgetful") {
		t.Errorf("a selection of built-ins ran a team's cell")
	}
}
