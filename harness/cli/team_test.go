package cli

import (
	"context"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/strategies"
)

// forgetful is a team's consumer that remembers applied ids in memory only.
type forgetful struct{ seen map[string]bool }

func (*forgetful) Name() string     { return "team-forgetful" }
func (*forgetful) Doc() string      { return "a team's consumer: applied ids in memory" }
func (*forgetful) Points() []string { return []string{strategies.PointConsumerAfterEffect} }

func (f *forgetful) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	if f.seen[d.Msg.ID] {
		return env.Sub.Ack(ctx, d.Tag)
	}
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		_ = tx.Rollback(ctx)
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Commit(ctx); err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	f.seen[d.Msg.ID] = true
	env.Faults.Point(ctx, strategies.PointConsumerAfterEffect)
	return env.Sub.Ack(ctx, d.Tag)
}

// Registered in init, before TestMain's worker hook, as a team's own command registers before
// cli.Main.
func init() {
	if err := strategies.RegisterConsumer("team-forgetful", func() strategies.Consumer { return &forgetful{seen: map[string]bool{}} }); err != nil {
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
