package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// Group is the consumer group name every consumer process of a run shares.
const Group = "effects"

// Run simulates one scenario with the given strategies and returns its history, final reads
// included. The same scenario always gives the same history. An error means the simulation
// itself failed (no quiescence within the bound); invariant verdicts are not errors.
func Run(sc history.Scenario, prod strategies.Producer, cons strategies.Consumer, cfg Config) (*history.History, error) {
	w := newWorld(sc, cfg)
	w.db.tails = strategies.TailsLog(prod)

	// The producer: the clients' commands, one after the other. A command that was in progress
	// when the producer died is not retried (the client saw its connection reset).
	producer := &proc{w: w, name: "producer"}
	cursor := 0
	producer.body = func(ctx context.Context) {
		env := strategies.ProducerEnv{
			Store:     record.Store(store{producer}, w, producer.name),
			Publisher: record.Publisher(publisher{producer}, w, producer.name),
			Faults:    faults{producer},
			Clock:     clock{producer},
		}
		for cursor < len(sc.Commands) {
			m := sc.Commands[cursor]
			cursor++
			err := prod.Produce(ctx, env, m)
			out, detail := history.OK, ""
			if err != nil {
				out, detail = history.Fail, err.Error()
			}
			w.Add(history.Event{Time: w.now, Proc: producer.name, Op: history.OpProduce, Outcome: out, Msg: m.ID, Key: m.Key, Detail: detail})
		}
		w.producerDone = true
	}
	w.procs = append(w.procs, producer)

	if relay, ok := prod.(strategies.Relay); ok {
		rp := &proc{w: w, name: "relay"}
		rp.body = func(ctx context.Context) {
			env := strategies.RelayEnv{
				Store:     record.Store(store{rp}, w, rp.name),
				Log:       record.ChangeLog(changeLog{rp}, w, rp.name),
				Publisher: record.Publisher(publisher{rp}, w, rp.name),
				Faults:    faults{rp},
				Clock:     clock{rp},
				Batch:     max(1, sc.Batch),
			}
			for {
				n, err := relay.RelayPass(ctx, env)
				if err != nil || n == 0 {
					rp.idleWait(never, w.now+cfg.RelayPoll)
				}
			}
		}
		w.procs = append(w.procs, rp)
	}

	for i := 1; i <= max(1, sc.Consumers); i++ {
		cp := &proc{w: w, name: fault.ConsumerName(i)}
		cp.body = func(ctx context.Context) {
			env := strategies.ConsumerEnv{
				Group: Group,
				Store: record.Store(store{cp}, w, cp.name),
				Sub: fault.Reordering(record.Subscription(subscription{cp}, w, cp.name),
					func(context.Context, strategies.Delivery) bool { return w.fire(reorderKinds, cp, "") != nil }),
				Faults: faults{cp},
				Clock:  clock{cp},
			}
			for {
				d, err := env.Sub.Next(ctx)
				if err != nil {
					if !errors.Is(err, strategies.ErrIdle) {
						cp.sleep(cfg.Reconnect)
					}
					continue
				}
				_ = cons.Handle(ctx, env, d)
			}
		}
		w.procs = append(w.procs, cp)
	}

	err := w.loop(w.quiescent, "")
	h := w.history(err)
	if err != nil {
		return h, fmt.Errorf("sim: %s/%s/%s seed %d: %w", sc.Producer, sc.Consumer, sc.Workload, sc.Seed, err)
	}
	return h, nil
}
