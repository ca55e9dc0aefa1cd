package sim

import (
	"context"
	"fmt"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// Ports are the ports one body of RunBodies gets: those of its own simulated process, wrapped by
// the recorder as a strategy's are.
type Ports struct {
	Name      string // the process name: body-1, body-2, ...
	Store     strategies.Store
	Publisher strategies.Publisher
	Sub       strategies.Subscription // opens its channel, and starts taking deliveries, at the first Next
	Faults    strategies.Faults
	Clock     strategies.Clock
}

// BodyName names the i-th body of RunBodies (1-based), as fault targets and events name it.
func BodyName(i int) string { return fmt.Sprintf("body-%d", i) }

// RunBodies runs each body as its own simulated process against one fresh database and broker,
// and returns when every body has returned. It drives the simulator with straight-line code
// instead of strategies, as the conformance suite of port semantics does.
//
// Of sc it uses Seed (the interleaving), Workload (the effect semantics of Tx.Apply), Prefetch and
// Faults (targets name bodies, see BodyName); a body that a crash fault kills restarts from its
// beginning after Config.RestartDelay. A body's return is its process's exit: its open
// transactions roll back and its broker channels close, so the broker requeues what it had not
// acknowledged, flagged redelivered.
//
// The history's Final holds the reads taken after the last body returned; Quiesced is true when
// every body returned. An error means the simulation failed: a body was still running at
// Config.MaxTime, every body is blocked for good, or a body panicked.
func RunBodies(sc history.Scenario, cfg Config, bodies ...func(ctx context.Context, env Ports)) (*history.History, error) {
	w := newWorld(sc, cfg)
	for i, body := range bodies {
		p := &proc{w: w, name: BodyName(i + 1)}
		p.body = func(ctx context.Context) {
			body(ctx, Ports{
				Name:      p.name,
				Store:     record.Store(store{p}, w, p.name),
				Publisher: record.Publisher(publisher{p}, w, p.name),
				Sub:       record.Subscription(subscription{p}, w, p.name),
				Faults:    faults{p},
				Clock:     clock{p},
			})
			w.reset(p) // the process exits
		}
		w.procs = append(w.procs, p)
	}

	// Nothing here is a server that waits for work: the run ends when every body has returned;
	// faults still in force then are left as they are.
	err := w.loop(w.allReturned, "every body returned")
	h := w.history(err)
	if err != nil {
		return h, fmt.Errorf("sim: %d bodies, seed %d: %w", len(bodies), sc.Seed, err)
	}
	return h, nil
}

// allReturned: every body has returned.
func (w *world) allReturned() bool {
	for _, p := range w.procs {
		if !p.finished {
			return false
		}
	}
	return true
}
