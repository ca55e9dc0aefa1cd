package real

// The worker process: a component of a run (producer, relay or consumer) in a process of its
// own, this binary re-executed. It runs the strategy against the real servers through its own
// proxies and stops at every gate of the worker protocol for the parent's go-ahead.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/worker"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// IsWorker reports whether this process was started as a worker.
func IsWorker() bool { return os.Getenv(worker.Env) != "" }

// WorkerMain runs this process as a worker and exits. A binary that can be a worker (the CLI,
// a test binary through TestMain) calls it first thing when IsWorker is true.
func WorkerMain() {
	var cfg worker.Config
	if err := json.Unmarshal([]byte(os.Getenv(worker.Env)), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "worker: bad %s: %v\n", worker.Env, err)
		os.Exit(2)
	}
	if cfg.Service != "" {
		serviceWorkerMain(cfg)
	}
	w := &workerRun{cfg: cfg, link: worker.NewLink(os.Stdin, os.Stdout)}
	if err := w.run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "worker %s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// workerRun is a worker process's side of a run: the component it runs, talking to its parent.
type workerRun struct {
	cfg  worker.Config
	link *worker.Link
}

// gate tells the parent where the worker is and waits for its go-ahead. If the parent is gone
// (stdin closed) the worker exits: a worker never outlives its run.
func (w *workerRun) gate(g worker.Gate) {
	if w.ask(g) != worker.ReplyGo {
		os.Exit(3)
	}
}

// ask is gate for a gate whose reply is a decision (ReplyGo or ReplyReorder).
func (w *workerRun) ask(g worker.Gate) worker.Reply {
	r, err := w.link.Ask(g)
	if err != nil {
		os.Exit(3)
	}
	return r
}

// Now implements record.Log: milliseconds since the run's start.
func (w *workerRun) Now() int64 { return time.Since(w.cfg.Epoch).Milliseconds() }

// Add implements record.Log.
func (w *workerRun) Add(e history.Event) { w.link.Send(worker.Message{Event: &e}) }

func (w *workerRun) run(ctx context.Context) error {
	c := w.cfg
	var mail pg.Mailer
	if c.Gateway != "" {
		mail = &gatedMailer{inner: NewGatewayClient(c.Gateway, c.Timeouts.GatewayTimeout()), w: w}
	}
	store, err := pg.NewStoreWithGateway(ctx, c.Postgres, c.Schema, c.Workload, mail)
	if err != nil {
		return err
	}
	defer store.Close()
	gstore := &gatedStore{inner: store, w: w}
	if c.Role == worker.RoleConsumer && isChain(c.Workload) {
		gstore.inner = store.ChainMiddle() // the payment service's own outbox (chain.go)
	}
	env := struct {
		store strategies.Store
		pub   strategies.Publisher
		sub   strategies.Subscription
	}{store: record.Store(gstore, w, c.Name)}
	var faults strategies.Faults = workerFaults{w}
	switch c.Role {
	case worker.RoleProducer, worker.RoleRelay:
		pub, err := brokerPublisher(ctx, c)
		if err != nil {
			return err
		}
		defer pub.Close()
		env.pub = record.Publisher(&gatedPublisher{inner: pub, w: w}, w, c.Name)
	case worker.RoleConsumer:
		sub, err := brokerSubscription(ctx, c)
		if err != nil {
			return err
		}
		defer sub.Close()
		// As the simulator does: the reorder fault's mechanism outside the recording wrapper; the
		// parent decides at the "reorder" gate.
		var live strategies.Subscription = &gatedSubscription{inner: sub, w: w}
		if c.CatchUp {
			live = fault.CatchUp(live, env.store, w.replayed(c.Name)) // new-subscriber: the outbox's history first
		}
		env.sub = fault.Reordering(record.Subscription(live, w, c.Name),
			func(_ context.Context, d strategies.Delivery) bool {
				return w.ask(worker.Gate{Kind: worker.GateReorder, Msg: d.Msg.ID}) == worker.ReplyReorder
			})
	default:
		return fmt.Errorf("unknown role %q", c.Role)
	}

	switch c.Role {
	case worker.RoleProducer:
		p, err := strategies.LookupProducer(c.Producer) // this process's own instance
		if err != nil {
			return err
		}
		faults = component.Declared(faults, c.Name, p.Points(), undeclared)
		penv := strategies.ProducerEnv{Store: env.store, Publisher: env.pub, Faults: faults, Clock: Clock{}}
		component.Producer(ctx, c.Name, p, penv, &workerCommands{w: w, list: c.Commands}, w)
		return nil
	case worker.RoleRelay:
		p, err := strategies.LookupProducer(c.Producer) // this process's own instance
		if err != nil {
			return err
		}
		relay, ok := p.(strategies.Relay)
		if !ok {
			return fmt.Errorf("producer %s has no relay", c.Producer)
		}
		faults = component.Declared(faults, c.Name, relay.RelayPoints(), undeclared)
		renv := strategies.RelayEnv{Store: env.store, Publisher: env.pub, Faults: faults, Clock: Clock{}, Batch: max(1, c.Batch)}
		if strategies.TailsLog(p) {
			lr, err := pg.NewLogReader(ctx, c.Postgres, c.Schema, c.Slot)
			if err != nil {
				return err
			}
			defer lr.Close()
			renv.Log = record.ChangeLog(&gatedLog{inner: lr, w: w}, w, c.Name)
		}
		component.Relay(ctx, workerHost{w}, relay, renv, c.Timeouts.RelayPoll)
		return ctx.Err()
	default:
		cons, err := strategies.LookupConsumer(c.Consumer) // this process's own instance
		if err != nil {
			return err
		}
		faults = component.Declared(faults, c.Name, cons.Points(), undeclared)
		cenv := strategies.ConsumerEnv{Group: c.Group, Store: chainStore(env.store, cons, c.Workload), Sub: env.sub, Faults: faults, Clock: Clock{}}
		component.Consumer(ctx, workerHost{w}, cons, cenv, c.Timeouts.Reconnect)
		return ctx.Err()
	}
}

// undeclared ends the worker at a fault point its strategy does not declare; the parent reports
// the exit, with this line, as a harness error.
func undeclared(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

// workerCommands is the producer's component.Commands: the commands still to do when this
// process started. The parent keeps the cursor: it counts the "produce" gate passed before each
// command, so that a new process after a crash starts after the command in progress, which is
// not retried.
type workerCommands struct {
	w    *workerRun
	list []history.Message
	next int
}

func (c *workerCommands) Next(context.Context) (history.Message, bool) {
	if c.next >= len(c.list) {
		return history.Message{}, false
	}
	m := c.list[c.next]
	c.w.gate(worker.Gate{Kind: worker.GateProduce, Msg: m.ID})
	c.next++
	return m, true
}

// Done tells the parent, and stays until the parent ends the run, so that the process's exit
// is the parent's decision.
func (c *workerCommands) Done(context.Context) {
	c.w.link.Send(worker.Message{Done: true})
	c.w.link.Wait()
}

// workerHost is a worker's component.Host: the wall clock, and a message to the parent when the
// component found nothing to do (the parent also counts a gate that is not a poll as work).
type workerHost struct{ w *workerRun }

func (h workerHost) Idle() { h.w.link.Send(worker.Message{Idle: true}) }

func (workerHost) Poll(ctx context.Context, d time.Duration) { Clock{}.Sleep(ctx, d) }

func (workerHost) Sleep(ctx context.Context, d time.Duration) { Clock{}.Sleep(ctx, d) }

// workerFaults passes fault points to the parent, which may kill the process there.
type workerFaults struct{ w *workerRun }

func (f workerFaults) Point(_ context.Context, name string) {
	f.w.gate(worker.Gate{Kind: worker.GatePoint, Point: name})
}

// gatedStore lets the parent act before every database operation: cut the link, or stall the
// reply of a COMMIT.
type gatedStore struct {
	inner strategies.Store
	w     *workerRun
}

func (s *gatedStore) Begin(ctx context.Context) (strategies.Tx, error) {
	s.w.gate(worker.Gate{Kind: worker.GateDB})
	tx, err := s.inner.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &gatedTx{Tx: tx, w: s.w}, nil
}

type gatedTx struct {
	strategies.Tx
	w *workerRun
}

func (t *gatedTx) Commit(ctx context.Context) error {
	t.w.gate(worker.Gate{Kind: worker.GateCommit})
	cctx, cancel := context.WithTimeout(ctx, t.w.cfg.Timeouts.Commit)
	defer cancel()
	err := t.Tx.Commit(cctx)
	t.w.gate(worker.Gate{Kind: worker.GateCommitDone})
	return err
}

// gatedLog lets the parent act before every round trip of the tailer to its slot, as for the
// Store: a read counts like a BEGIN (cut the link), an advance like a COMMIT (cut the link, or
// stall its reply).
type gatedLog struct {
	inner strategies.ChangeLog
	w     *workerRun
}

func (l *gatedLog) Read(ctx context.Context, limit int) (strategies.LogBatch, error) {
	l.w.gate(worker.Gate{Kind: worker.GateDB})
	return l.inner.Read(ctx, limit)
}

func (l *gatedLog) Advance(ctx context.Context, pos uint64) error {
	l.w.gate(worker.Gate{Kind: worker.GateCommit})
	cctx, cancel := context.WithTimeout(ctx, l.w.cfg.Timeouts.Commit)
	defer cancel()
	err := l.inner.Advance(cctx, pos)
	l.w.gate(worker.Gate{Kind: worker.GateCommitDone})
	return err
}

// gatedPublisher lets the parent act before every publish (swallow its confirm, cut the link).
type gatedPublisher struct {
	inner strategies.Publisher
	w     *workerRun
}

func (p *gatedPublisher) Publish(ctx context.Context, m strategies.Message) (strategies.Confirmation, error) {
	if c, ok := p.inner.(interface{ Connect(context.Context) error }); ok {
		_ = c.Connect(ctx) // a failure shows again in Publish
	}
	p.w.gate(worker.Gate{Kind: worker.GatePublish, Msg: m.ID})
	p.w.gate(worker.Gate{Kind: worker.GateConfirm, Msg: m.ID})
	c, err := p.inner.Publish(ctx, m)
	if err != nil {
		return nil, err
	}
	return &gatedConfirm{inner: c, w: p.w, msg: m.ID}, nil
}

type gatedConfirm struct {
	inner strategies.Confirmation
	w     *workerRun
	msg   string
}

func (c *gatedConfirm) Wait(ctx context.Context) error {
	err := c.inner.Wait(ctx)
	c.w.gate(worker.Gate{Kind: worker.GateConfirmDone, Msg: c.msg})
	return err
}

// gatedSubscription lets the parent act before every broker operation of a consumer: lose an ack,
// drop the connection under a delivery, cut the link.
type gatedSubscription struct {
	inner strategies.Subscription
	w     *workerRun
}

func (s *gatedSubscription) Next(ctx context.Context) (strategies.Delivery, error) {
	s.w.gate(worker.Gate{Kind: worker.GateBroker, Point: fault.SiteDeliver})
	d, err := s.inner.Next(ctx)
	if err == nil {
		s.w.gate(worker.Gate{Kind: worker.GateReceive, Msg: d.Msg.ID})
	}
	return d, err
}

func (s *gatedSubscription) Ack(ctx context.Context, tag uint64) error {
	s.w.gate(worker.Gate{Kind: worker.GateAck})
	err := s.inner.Ack(ctx, tag)
	s.w.gate(worker.Gate{Kind: worker.GateAckDone})
	return err
}

func (s *gatedSubscription) Nack(ctx context.Context, tag uint64, requeue bool) error {
	s.w.gate(worker.Gate{Kind: worker.GateBroker, Point: fault.SiteNack})
	return s.inner.Nack(ctx, tag, requeue)
}

// gatedMailer lets the parent act before every call to the mail gateway (slow the link).
type gatedMailer struct {
	inner pg.Mailer
	w     *workerRun
}

func (m *gatedMailer) Send(ctx context.Context, msg history.Message, key string) error {
	m.w.gate(worker.Gate{Kind: worker.GateGateway, Msg: msg.ID})
	return m.inner.Send(ctx, msg, key)
}
