package sim

import (
	"context"
	"fmt"
	"time"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// Group is the consumer group name every consumer process of a run shares.
const Group = component.Group

// Run simulates one scenario with the given strategies and returns its history, final reads
// included. The same scenario always gives the same history. An error means the simulation
// itself failed (no quiescence within the bound); invariant verdicts are not errors.
//
// Each process (the producer, the relay, each consumer) gets a fresh strategy instance from the
// strategy's constructor (strategies.ProducerFor, ConsumerFor) at every start and restart: what an
// instance holds in memory dies with its process, and competing consumers never share it.
func Run(sc history.Scenario, prod strategies.Producer, cons strategies.Consumer, cfg Config) (*history.History, error) {
	newProd, err := strategies.ProducerFor(prod)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	newCons, err := strategies.ConsumerFor(cons)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	w := newWorld(sc, cfg)
	w.db.tails = strategies.TailsLog(prod)
	w.db.events = strategies.EventSourced(prod)

	producers := fault.ProducersOf(sc.Fault)
	w.producersLeft = producers
	var first *commands
	for i := 1; i <= producers; i++ {
		producer := &proc{w: w, name: fault.ProducerName(i)}
		// The commands outlive the producer's incarnations.
		cmds := &commands{w: w, list: fault.ProducerCommands(sc.Commands, i, producers)}
		if i == 1 {
			first = cmds
		} else {
			// concurrent-producers: the second producer starts once the first's held COMMIT
			// opens the window (waitForOtherProducer), or the first is done, so that its
			// change, and its outbox row's id, comes after the held one's.
			cmds.before = func() {
				producer.block(func() bool { return w.interleaving || first.done }, 0)
			}
		}
		producer.body = func(ctx context.Context) {
			prod := newProd()
			env := strategies.ProducerEnv{
				Store:     record.Store(store{producer}, w, producer.name),
				Publisher: record.Publisher(publisher{producer}, w, producer.name),
				Faults:    component.Declared(faults{producer}, producer.name, prod.Points(), undeclared),
				Clock:     clock{producer},
			}
			component.Producer(ctx, producer.name, prod, env, cmds, w)
		}
		w.procs = append(w.procs, producer)
	}

	if _, ok := prod.(strategies.Relay); ok {
		rp := &proc{w: w, name: "relay"}
		rp.body = func(ctx context.Context) {
			relay := newProd().(strategies.Relay)
			env := strategies.RelayEnv{
				Store:     record.Store(store{rp}, w, rp.name),
				Log:       record.ChangeLog(changeLog{rp}, w, rp.name),
				Publisher: record.Publisher(publisher{rp}, w, rp.name),
				Faults:    component.Declared(faults{rp}, rp.name, relay.RelayPoints(), undeclared),
				Clock:     clock{rp},
				Batch:     max(1, sc.Batch),
			}
			component.Relay(ctx, host{rp}, relay, env, ms(cfg.RelayPoll))
		}
		w.procs = append(w.procs, rp)
	}

	for i := 1; i <= max(1, sc.Consumers); i++ {
		cp := &proc{w: w, name: fault.ConsumerName(i)}
		cp.body = func(ctx context.Context) {
			w.awaitSubscription(cp)
			cons := newCons()
			cstore := record.Store(store{cp}, w, cp.name)
			env := strategies.ConsumerEnv{
				Group: Group,
				Store: w.chainStore(cstore, cons),
				Sub: fault.Reordering(record.Subscription(w.feed(cp, subscription{cp}, cstore), w, cp.name),
					func(context.Context, strategies.Delivery) bool {
						w.at(cp, fault.OpDelivery, "")
						return cp.takeHandBack()
					}),
				Faults: component.Declared(faults{cp}, cp.name, cons.Points(), undeclared),
				Clock:  clock{cp},
			}
			component.Consumer(ctx, host{cp}, cons, env, ms(cfg.Reconnect))
		}
		w.procs = append(w.procs, cp)
	}

	w.chainProcs()
	err = w.loop(w.quiescent, "")
	h := w.history(err)
	w.freeTxs()
	if err != nil {
		return h, fmt.Errorf("sim: %s/%s/%s seed %d: %w", sc.Producer, sc.Consumer, sc.Workload, sc.Seed, err)
	}
	return h, nil
}

// commands is the producer's component.Commands: the cursor is the run's, so a command that was
// in progress when the producer died is not retried.
type commands struct {
	w    *world
	list []history.Message
	next int
	done bool
	// before, when set, runs at the first Next: a wait for the run to let this producer start.
	before func()
}

func (c *commands) Next(context.Context) (history.Message, bool) {
	if before := c.before; before != nil {
		c.before = nil
		before()
	}
	if c.next >= len(c.list) {
		return history.Message{}, false
	}
	m := c.list[c.next]
	c.next++
	return m, true
}

// Done: the clients are done; the producer process finishes. The run's producing is done when
// every producer process's is.
func (c *commands) Done(context.Context) {
	if !c.done {
		c.done = true
		c.w.producersLeft--
	}
	c.w.producerDone = c.w.producersLeft <= 0
}

// host is a process's component.Host. The simulator sees idleness as a state: a process blocked
// waiting for work (in Poll, or in a subscription's wait for a delivery) is idle, so Idle says
// nothing more.
type host struct{ p *proc }

func (host) Idle() {}

func (h host) Poll(_ context.Context, d time.Duration) {
	h.p.idleWait(never, h.p.w.now+d.Milliseconds())
}

func (h host) Sleep(_ context.Context, d time.Duration) { h.p.sleep(d.Milliseconds()) }

// ms is a simulated duration in milliseconds as a time.Duration.
func ms(d int64) time.Duration { return time.Duration(d) * time.Millisecond }

// undeclared ends the simulation at a fault point the strategy does not declare: the loop turns
// the panic into the run's error.
func undeclared(err error) { panic(err) }
