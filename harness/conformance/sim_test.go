package conformance_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/conformance"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/sim"
	"github.com/deliveryharness/harness/strategies"
)

// simBackend runs the suite's bodies as simulated processes, with one seed for the interleaving.
type simBackend struct {
	cfg    sim.Config
	seed   uint64
	broker string // the scenario's broker: "" (RabbitMQ) or history.BrokerNATS
}

func (b simBackend) Run(t testing.TB, s conformance.Setup, bodies ...conformance.Body) history.Final {
	t.Helper()
	procs := make([]func(context.Context, sim.Ports), len(bodies))
	for i, body := range bodies {
		procs[i] = func(ctx context.Context, p sim.Ports) {
			body(ctx, conformance.Env{Name: p.Name, Store: p.Store, Publisher: p.Publisher, Sub: p.Sub, Clock: p.Clock})
		}
	}
	sc := history.Scenario{Workload: s.Workload, Prefetch: s.Prefetch, Seed: b.seed, Broker: b.broker}
	h, err := sim.RunBodies(sc, b.cfg, procs...)
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range h.Events {
				t.Logf("%6d %s", e.Time, e)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.Final
}

// TestSim runs the suite on the simulator under several interleavings: every seed must pass.
func TestSim(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			conformance.Test(t, simBackend{cfg: sim.DefaultConfig(), seed: seed}, conformance.Features{RequeueKeepsPosition: true})
		})
	}
}

// TestSimNATS runs the suite on the simulator's NATS JetStream model under several
// interleavings, with the features JetStream has: the ack wait, the duplicate window.
func TestSimNATS(t *testing.T) {
	cfg := sim.DefaultConfig()
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed-%d", seed), func(t *testing.T) {
			conformance.Test(t, simBackend{cfg: cfg, seed: seed, broker: history.BrokerNATS},
				conformance.Features{AckWait: time.Duration(cfg.AckWait) * time.Millisecond, DedupWindow: strategies.Window})
		})
	}
}
