package real

// The worker process: a component of a run (producer, relay or consumer) in a process of its
// own, this binary re-executed. It runs the strategy against the real servers through its own
// proxies and stops at every gate of the worker protocol for the parent's go-ahead.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
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
	w := &component{cfg: cfg, link: worker.NewLink(os.Stdin, os.Stdout)}
	if err := w.run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "worker %s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// component is one component process talking to its parent.
type component struct {
	cfg  worker.Config
	link *worker.Link
}

// gate tells the parent where the worker is and waits for its go-ahead. If the parent is gone
// (stdin closed) the worker exits: a worker never outlives its run.
func (w *component) gate(g worker.Gate) {
	if w.ask(g) != worker.ReplyGo {
		os.Exit(3)
	}
}

// ask is gate for a gate whose reply is a decision (ReplyGo or ReplyReorder).
func (w *component) ask(g worker.Gate) worker.Reply {
	r, err := w.link.Ask(g)
	if err != nil {
		os.Exit(3)
	}
	return r
}

// Now implements record.Log: milliseconds since the run's start.
func (w *component) Now() int64 { return time.Since(w.cfg.Epoch).Milliseconds() }

// Add implements record.Log.
func (w *component) Add(e history.Event) { w.link.Send(worker.Message{Event: &e}) }

func (w *component) run(ctx context.Context) error {
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
	env := struct {
		store strategies.Store
		pub   strategies.Publisher
		sub   strategies.Subscription
	}{store: record.Store(gstore, w, c.Name)}
	faults := workerFaults{w}
	switch c.Role {
	case worker.RoleProducer, worker.RoleRelay:
		pub, err := amqp.NewPublisher(ctx, c.AMQP, c.Queue, c.Timeouts.Confirm)
		if err != nil {
			return err
		}
		defer pub.Close()
		env.pub = record.Publisher(&gatedPublisher{inner: pub, w: w}, w, c.Name)
	case worker.RoleConsumer:
		sub, err := amqp.NewSubscription(ctx, c.AMQP, c.Queue, max(1, c.Prefetch), c.Timeouts.Idle)
		if err != nil {
			return err
		}
		defer sub.Close()
		// As the simulator does: the reorder fault's mechanism outside the recording wrapper; the
		// parent decides at the "reorder" gate.
		env.sub = fault.Reordering(record.Subscription(&gatedSubscription{inner: sub, w: w}, w, c.Name),
			func(_ context.Context, d strategies.Delivery) bool {
				return w.ask(worker.Gate{Kind: worker.GateReorder, Msg: d.Msg.ID}) == worker.ReplyReorder
			})
	default:
		return fmt.Errorf("unknown role %q", c.Role)
	}

	switch c.Role {
	case worker.RoleProducer:
		p, err := strategies.LookupProducer(c.Producer)
		if err != nil {
			return err
		}
		penv := strategies.ProducerEnv{Store: env.store, Publisher: env.pub, Faults: faults, Clock: Clock{}}
		for _, m := range c.Commands {
			w.gate(worker.Gate{Kind: worker.GateProduce, Msg: m.ID})
			err := p.Produce(ctx, penv, m)
			out, detail := history.OK, ""
			if err != nil {
				out, detail = history.Fail, err.Error()
			}
			w.Add(history.Event{Time: w.Now(), Proc: c.Name, Op: history.OpProduce, Outcome: out, Msg: m.ID, Key: m.Key, Detail: detail})
		}
		w.link.Send(worker.Message{Done: true})
		// Stay until the parent ends the run, so that its exit is the parent's decision.
		w.link.Wait()
		return nil
	case worker.RoleRelay:
		p, err := strategies.LookupProducer(c.Producer)
		if err != nil {
			return err
		}
		relay, ok := p.(strategies.Relay)
		if !ok {
			return fmt.Errorf("producer %s has no relay", c.Producer)
		}
		renv := strategies.RelayEnv{Store: env.store, Publisher: env.pub, Faults: faults, Clock: Clock{}, Batch: max(1, c.Batch)}
		if strategies.TailsLog(p) {
			lr, err := pg.NewLogReader(ctx, c.Postgres, c.Schema, c.Slot)
			if err != nil {
				return err
			}
			defer lr.Close()
			renv.Log = record.ChangeLog(&gatedLog{inner: lr, w: w}, w, c.Name)
		}
		for {
			n, err := relay.RelayPass(ctx, renv)
			if err != nil || n == 0 {
				if n == 0 && err == nil {
					w.link.Send(worker.Message{Idle: true})
				}
				Clock{}.Sleep(ctx, c.Timeouts.RelayPoll)
			}
		}
	default:
		cons, err := strategies.LookupConsumer(c.Consumer)
		if err != nil {
			return err
		}
		cenv := strategies.ConsumerEnv{Group: c.Group, Store: env.store, Sub: env.sub, Faults: faults, Clock: Clock{}}
		for {
			d, err := cenv.Sub.Next(ctx)
			if err != nil {
				if errors.Is(err, strategies.ErrIdle) {
					w.link.Send(worker.Message{Idle: true})
				} else {
					Clock{}.Sleep(ctx, c.Timeouts.Reconnect)
				}
				continue
			}
			_ = cons.Handle(ctx, cenv, d)
		}
	}
}

// workerFaults passes fault points to the parent, which may kill the process there.
type workerFaults struct{ w *component }

func (f workerFaults) Point(_ context.Context, name string) {
	f.w.gate(worker.Gate{Kind: worker.GatePoint, Point: name})
}

// gatedStore lets the parent act before every database operation: cut the link, or stall the
// reply of a COMMIT.
type gatedStore struct {
	inner strategies.Store
	w     *component
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
	w *component
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
	w     *component
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
	w     *component
}

func (p *gatedPublisher) Publish(ctx context.Context, m strategies.Message) (strategies.Confirmation, error) {
	if c, ok := p.inner.(interface{ Connect(context.Context) error }); ok {
		_ = c.Connect(ctx) // a failure shows again in Publish
	}
	p.w.gate(worker.Gate{Kind: worker.GatePublish, Msg: m.ID})
	c, err := p.inner.Publish(ctx, m)
	if err != nil {
		return nil, err
	}
	return &gatedConfirm{inner: c, w: p.w, msg: m.ID}, nil
}

type gatedConfirm struct {
	inner strategies.Confirmation
	w     *component
	msg   string
}

func (c *gatedConfirm) Wait(ctx context.Context) error {
	c.w.gate(worker.Gate{Kind: worker.GateBroker})
	err := c.inner.Wait(ctx)
	c.w.gate(worker.Gate{Kind: worker.GateConfirmDone, Msg: c.msg})
	return err
}

// gatedSubscription lets the parent act before every broker operation of a consumer: lose an ack,
// drop the connection under a delivery, cut the link.
type gatedSubscription struct {
	inner strategies.Subscription
	w     *component
}

func (s *gatedSubscription) Next(ctx context.Context) (strategies.Delivery, error) {
	s.w.gate(worker.Gate{Kind: worker.GateBroker})
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
	s.w.gate(worker.Gate{Kind: worker.GateBroker})
	return s.inner.Nack(ctx, tag, requeue)
}

// gatedMailer lets the parent act before every call to the mail gateway (slow the link).
type gatedMailer struct {
	inner pg.Mailer
	w     *component
}

func (m *gatedMailer) Send(ctx context.Context, msg history.Message, key string) error {
	m.w.gate(worker.Gate{Kind: worker.GateGateway, Msg: msg.ID})
	return m.inner.Send(ctx, msg, key)
}
