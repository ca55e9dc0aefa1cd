package scenariotest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// renamed is a team invariant that never breaks, under any name.
type renamed invariants.Name

func (r renamed) Name() invariants.Name                       { return invariants.Name(r) }
func (renamed) Doc() string                                   { return "never breaks" }
func (renamed) Applies(workload.Effect) bool                  { return true }
func (renamed) Check(*history.History) []invariants.Violation { return nil }

// nameCases are team invariants Prove is given, with the one line it fails with ("" to pass).
var nameCases = map[string]struct {
	extra []invariants.Checker
	want  string
}{
	"own":      {[]invariants.Checker{renamed("team-a"), renamed("team-b")}, ""},
	"built-in": {[]invariants.Checker{renamed(invariants.NoDuplicateEffect)}, `team invariant "no-duplicate-effect" is named like the built-in one`},
	"twice":    {[]invariants.Checker{renamed("team-a"), renamed("team-a")}, `two team invariants are named "team-a"`},
}

// proveNamesEnv names the case a child test process proves.
const proveNamesEnv = "SCENARIOTEST_PROVE_NAMES"

// TestProveRefusesTakenNames: Prove fails at once, in one line, when a team invariant is named
// like a catalogue invariant or like another team invariant, and runs as usual otherwise. Each
// case runs in a child test process, since the failure is the test's own.
func TestProveRefusesTakenNames(t *testing.T) {
	if name := os.Getenv(proveNamesEnv); name != "" {
		scenariotest.Prove(t, strategies.Outbox{}, strategies.Inbox{}, workload.Orders.Name,
			scenariotest.Faults(fault.None), scenariotest.Invariants(nameCases[name].extra...))
		return
	}
	for name, tc := range nameCases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestProveRefusesTakenNames$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), proveNamesEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Prove failed: %v\n%s", err, out)
				}
				return
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("Prove passed or did not run (%v), want a failure:\n%s", err, out)
			}
			var lines []string
			for _, l := range strings.Split(string(out), "\n") {
				if strings.Contains(l, "team invariant") {
					lines = append(lines, strings.TrimSpace(l))
				}
			}
			if len(lines) != 1 || !strings.HasSuffix(lines[0], tc.want) || strings.Contains(string(out), "=== RUN   TestProveRefusesTakenNames/") {
				t.Errorf("want one line ending in %q and no fault run; got:\n%s", tc.want, out)
			}
		})
	}
}

// TestFindViolationRefusesTakenNames: FindViolation refuses the same names with a usage error.
func TestFindViolationRefusesTakenNames(t *testing.T) {
	for name, tc := range nameCases {
		t.Run(name, func(t *testing.T) {
			_, _, err := scenariotest.FindViolation(context.Background(), harness.NewSim(), strategies.Outbox{}, strategies.Inbox{},
				workload.Orders.Name, fault.None, 1, tc.extra...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (!errors.Is(err, harness.ErrUsage) || !errors.Is(err, invariants.ErrTeamName) || !strings.HasSuffix(err.Error(), tc.want)):
				t.Fatalf("err = %v, want a usage error ending in %q", err, tc.want)
			}
		})
	}
}
