package real_test

import (
	"context"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/strategies"
)

// unconfirmedRelay is a team's outbox relay that publishes without waiting for the confirms and
// marks the rows published at once: it takes a publish that returned for one the broker has.
type unconfirmedRelay struct{ strategies.Outbox }

const unconfirmedRelayName = "test-unconfirmed-relay"

func (unconfirmedRelay) Name() string { return unconfirmedRelayName }
func (unconfirmedRelay) Doc() string {
	return "outbox relay that publishes without waiting for confirms"
}

func (unconfirmedRelay) RelayPass(ctx context.Context, env strategies.RelayEnv) (int, error) {
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return 0, err
	}
	rows, err := tx.ClaimOutbox(ctx, env.Batch)
	if err != nil || len(rows) == 0 {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	env.Faults.Point(ctx, strategies.PointRelayAfterClaim)
	ids := make([]int64, len(rows))
	for i, r := range rows {
		if _, err := env.Publisher.Publish(ctx, r.Msg); err != nil {
			_ = tx.Rollback(ctx)
			return 0, err
		}
		ids[i] = r.ID
	}
	env.Faults.Point(ctx, strategies.PointRelayAfterPublish)
	if err := tx.MarkPublished(ctx, ids); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, err
	}
	env.Faults.Point(ctx, strategies.PointRelayAfterCommit)
	return len(rows), nil
}

func init() {
	if err := strategies.RegisterProducer(unconfirmedRelayName, func() strategies.Producer { return unconfirmedRelay{} }); err != nil {
		panic(err)
	}
}

// TestTeamRelaysUnderNewFaults: what broker-restart and concurrent-producers are for, found on
// both backends with the same verdict. A relay that does not wait for its confirms loses the
// event whose publish the restarting broker never got, where the catalogue's outbox relay
// publishes it again; the offset relay (outbox-offset) skips the row that two producers committed
// out of id order, where the outbox relay, which claims unpublished rows, does not, and neither
// does the fenced relay (outbox-fenced), which waits for the older transaction.
func TestTeamRelaysUnderNewFaults(t *testing.T) {
	orders := scenarios.Commands(scenarios.NewSeedSource(0), workload.Orders.Name, 2, 2)
	restart := history.Fault{Kind: fault.BrokerRestart, Point: fault.SitePublish, Nth: 1}
	interleave := history.Fault{Kind: fault.ConcurrentProducers, Target: "producer", Nth: 1}
	tests := []struct {
		name  string
		p     strategies.Producer
		f     history.Fault
		cmds  []history.Message
		broke []invariants.Name
	}{
		{"a relay that does not wait for confirms loses a publish the restart swallowed", unconfirmedRelay{}, restart, orders[:1], []invariants.Name{invariants.NoLostEffect}},
		{"the outbox relay publishes it again", strategies.Outbox{}, restart, orders[:1], nil},
		{"an offset relay skips the row committed out of id order", strategies.OutboxOffset{}, interleave, orders, []invariants.Name{invariants.NoLostEffect}},
		{"the fenced relay waits for it", strategies.OutboxFenced{}, interleave, orders, nil},
		{"the outbox relay claims it", strategies.Outbox{}, interleave, orders, nil},
	}
	backends := map[string]harness.Backend{"sim": harness.NewSim(), "real": real.NewBackend(realtest.Require(t))}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc := history.Scenario{Producer: tt.p.Name(), Consumer: "inbox", Workload: workload.Orders.Name, Fault: tt.f.Kind, Seed: 1,
				Commands: tt.cmds, Faults: []history.Fault{tt.f}, Consumers: 1, Prefetch: 1, Batch: 1}
			for _, name := range []string{"sim", "real"} {
				h, err := harness.RunWith(context.Background(), backends[name], sc, tt.p, strategies.Inbox{})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				vs := invariants.Check(h)
				if got := invariants.Broken(vs); !slices.Equal(got, tt.broke) {
					t.Errorf("%s broke %q, want %q:\n%s", name, got, tt.broke, scenariotest.Describe(h, vs))
				}
				if !slices.ContainsFunc(h.Events, func(e history.Event) bool { return e.Op == history.OpFault }) {
					t.Errorf("%s: the fault never fired:\n%s", name, scenariotest.Describe(h, nil))
				}
			}
		})
	}
}
