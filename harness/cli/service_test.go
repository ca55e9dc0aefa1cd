package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/service"
)

// setupFails is a team's service that cannot create its tables.
type setupFails struct{}

func (setupFails) Setup(context.Context, service.Env) error {
	return errors.New("permission denied for schema")
}
func (setupFails) Handle(context.Context, service.Env, service.Command) error { return nil }
func (setupFails) Consume(ctx context.Context, _ service.Env) error {
	<-ctx.Done()
	return nil
}
func (setupFails) Final(context.Context, service.Env) (service.State, error) {
	return service.State{}, nil
}

func init() {
	service.MustRegister("cli-setup-fails", func() service.Service { return setupFails{} })
}

// A team's service through its command: on the simulator it is a usage error (exit 2); on real
// servers a service that cannot set up is the harness's failure (exit 3), in one line.
func TestServiceThroughTheCLI(t *testing.T) {
	cell := cellArgs{"cli-setup-fails", "cli-setup-fails", "orders", "none"}
	r := simulate(t, args("run", cell, "--seeds", "1")...)
	requireCode(t, r, exitUsage, args("run", cell))
	if !strings.Contains(r.stderr, "real servers only") {
		t.Errorf("the usage error does not say why: %q", r.stderr)
	}
	containers.Require(t)
	a := args("run", cell, "--seeds", "1", "--backend", "real")
	r = simulate(t, a...)
	requireCode(t, r, exitFailure, a)
	if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "setup: permission denied") {
		t.Errorf("stderr %q, want one line saying the setup failed", r.stderr)
	}
}

// A matrix whose cells the harness failed still prints its report, each such cell a '?', and
// exits 3 with the failures.
func TestMatrixReportsFailedCells(t *testing.T) {
	containers.Require(t)
	a := []string{"matrix", "--backend", "real", "--producer", "cli-setup-fails", "--consumer", "cli-setup-fails",
		"--workload", "orders", "--fault", "none", "--seeds", "1"}
	r := simulate(t, a...)
	requireCode(t, r, exitFailure, a)
	row := ""
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.Contains(l, "cli-setup-fails/cli-setup-fails ") {
			row = l
		}
	}
	if !strings.Contains(row, "?") {
		t.Errorf("no matrix row with the failed cell marked '?':\n%s", clip(r.stdout))
	}
	if !strings.Contains(r.stderr, "setup: permission denied") {
		t.Errorf("stderr does not say why: %q", r.stderr)
	}
}
