package real

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// EnvWorker marks a process as a worker: its value is the worker's JSON configuration.
const EnvWorker = "HARNESS_WORKER"

// WorkerConfig is what a worker process needs: which component it is and where its servers are
// (its own Toxiproxy proxies).
type WorkerConfig struct {
	Role     string            `json:"role"` // producer, relay or consumer
	Name     string            `json:"name"` // producer, relay, consumer-1, ...
	Producer string            `json:"producer"`
	Consumer string            `json:"consumer"`
	Workload string            `json:"workload"`
	Postgres string            `json:"postgres"`
	AMQP     string            `json:"amqp"`
	Gateway  string            `json:"gateway,omitempty"` // the mail gateway (emails), through the worker's proxy
	Schema   string            `json:"schema"`
	Slot     string            `json:"slot,omitempty"` // the run's replication slot, for a relay that tails the log
	Queue    string            `json:"queue"`
	Group    string            `json:"group"`
	Commands []history.Message `json:"commands,omitempty"` // the producer's commands still to do
	Prefetch int               `json:"prefetch"`
	Batch    int               `json:"batch"`
	Epoch    time.Time         `json:"epoch"` // the run's start: event times are milliseconds since
	Timeouts Timeouts          `json:"timeouts"`
}

// Timeouts are the real backend's waits.
type Timeouts struct {
	Confirm   time.Duration `json:"confirm"`
	Commit    time.Duration `json:"commit"`
	Idle      time.Duration `json:"idle"`
	RelayPoll time.Duration `json:"relay_poll"`
	Reconnect time.Duration `json:"reconnect"`
	Gateway   time.Duration `json:"gateway"` // a consumer waits this long for the mail gateway's reply
}

// DefaultTimeouts are the real backend's defaults, the simulator's where they correspond.
func DefaultTimeouts() Timeouts {
	return Timeouts{Confirm: time.Second, Commit: time.Second, Idle: 100 * time.Millisecond,
		RelayPoll: 20 * time.Millisecond, Reconnect: 50 * time.Millisecond, Gateway: 500 * time.Millisecond}
}

// The worker protocol, one JSON object per line. The worker writes events and gates to stdout;
// at a gate it waits for a line on stdin ("go") before it carries on, so the parent can inject
// a fault at that exact point, or kill it there. The one other reply is "reorder", to a consumer's
// "reorder" gate (sent for every delivery its Next returns, after the "receive" gate): hand this
// delivery back once the next one has arrived (fault.Reordering).
type message struct {
	Event *history.Event `json:"event,omitempty"`
	Gate  *Gate          `json:"gate,omitempty"`
	Idle  bool           `json:"idle,omitempty"` // a consumer or relay found nothing to do
	Done  bool           `json:"done,omitempty"` // the producer finished its commands
}

// Gate is a point where a worker waits for the parent: before an operation or at a fault point.
type Gate struct {
	Kind  string `json:"kind"`            // point, commit, ack, publish, db, broker, receive, reorder, gateway, commit-done, ack-done, confirm-done
	Point string `json:"point,omitempty"` // the fault point, for Kind == point
	Msg   string `json:"msg,omitempty"`
}

// IsWorker reports whether this process was started as a worker.
func IsWorker() bool { return os.Getenv(EnvWorker) != "" }

// WorkerMain runs this process as a worker and exits. A binary that can be a worker (the CLI,
// a test binary through TestMain) calls it first thing when IsWorker is true.
func WorkerMain() {
	var cfg WorkerConfig
	if err := json.Unmarshal([]byte(os.Getenv(EnvWorker)), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "worker: bad %s: %v\n", EnvWorker, err)
		os.Exit(2)
	}
	w := newWorker(cfg, os.Stdin, os.Stdout)
	if err := w.run(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "worker %s: %v\n", cfg.Name, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// worker is one component process talking to its parent.
type worker struct {
	cfg WorkerConfig
	in  *bufio.Reader
	mu  sync.Mutex
	out *json.Encoder
}

func newWorker(cfg WorkerConfig, in io.Reader, out io.Writer) *worker {
	return &worker{cfg: cfg, in: bufio.NewReader(in), out: json.NewEncoder(out)}
}

func (w *worker) send(m message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.out.Encode(m)
}

// gate tells the parent where the worker is and waits for its go-ahead. If the parent is gone
// (stdin closed) the worker exits: a worker never outlives its run.
func (w *worker) gate(g Gate) {
	if w.ask(g) != "go" {
		os.Exit(3)
	}
}

// ask is gate for a gate whose reply is a decision: it returns the parent's line ("go" or
// "reorder") without its newline.
func (w *worker) ask(g Gate) string {
	w.send(message{Gate: &g})
	line, err := w.in.ReadString('\n')
	if err != nil || (line != "go\n" && line != "reorder\n") {
		os.Exit(3)
	}
	return strings.TrimSuffix(line, "\n")
}

// Now implements record.Log: milliseconds since the run's start.
func (w *worker) Now() int64 { return time.Since(w.cfg.Epoch).Milliseconds() }

// Add implements record.Log.
func (w *worker) Add(e history.Event) { w.send(message{Event: &e}) }

func (w *worker) run(ctx context.Context) error {
	c := w.cfg
	var mail pg.Mailer
	if c.Gateway != "" {
		timeout := c.Timeouts.Gateway
		if timeout <= 0 {
			timeout = DefaultTimeouts().Gateway
		}
		mail = &gatedMailer{inner: NewGatewayClient(c.Gateway, timeout), w: w}
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
	case "producer", "relay":
		pub, err := amqp.NewPublisher(ctx, c.AMQP, c.Queue, c.Timeouts.Confirm)
		if err != nil {
			return err
		}
		defer pub.Close()
		env.pub = record.Publisher(&gatedPublisher{inner: pub, w: w}, w, c.Name)
	case "consumer":
		sub, err := amqp.NewSubscription(ctx, c.AMQP, c.Queue, max(1, c.Prefetch), c.Timeouts.Idle)
		if err != nil {
			return err
		}
		defer sub.Close()
		// As the simulator does: the reorder fault's mechanism outside the recording wrapper; the
		// parent decides at the "reorder" gate.
		env.sub = fault.Reordering(record.Subscription(&gatedSubscription{inner: sub, w: w}, w, c.Name),
			func(_ context.Context, d strategies.Delivery) bool {
				return w.ask(Gate{Kind: "reorder", Msg: d.Msg.ID}) == "reorder"
			})
	default:
		return fmt.Errorf("unknown role %q", c.Role)
	}

	switch c.Role {
	case "producer":
		p, err := strategies.LookupProducer(c.Producer)
		if err != nil {
			return err
		}
		penv := strategies.ProducerEnv{Store: env.store, Publisher: env.pub, Faults: faults, Clock: Clock{}}
		for _, m := range c.Commands {
			w.gate(Gate{Kind: "produce", Msg: m.ID})
			err := p.Produce(ctx, penv, m)
			out, detail := history.OK, ""
			if err != nil {
				out, detail = history.Fail, err.Error()
			}
			w.Add(history.Event{Time: w.Now(), Proc: c.Name, Op: history.OpProduce, Outcome: out, Msg: m.ID, Key: m.Key, Detail: detail})
		}
		w.send(message{Done: true})
		// Stay until the parent ends the run, so that its exit is the parent's decision.
		_, _ = w.in.ReadString('\n')
		return nil
	case "relay":
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
					w.send(message{Idle: true})
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
					w.send(message{Idle: true})
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
type workerFaults struct{ w *worker }

func (f workerFaults) Point(_ context.Context, name string) {
	f.w.gate(Gate{Kind: "point", Point: name})
}

// gatedStore lets the parent act before every database operation: cut the link, or stall the
// reply of a COMMIT.
type gatedStore struct {
	inner strategies.Store
	w     *worker
}

func (s *gatedStore) Begin(ctx context.Context) (strategies.Tx, error) {
	s.w.gate(Gate{Kind: "db"})
	tx, err := s.inner.Begin(ctx)
	if err != nil {
		return nil, err
	}
	return &gatedTx{Tx: tx, w: s.w}, nil
}

type gatedTx struct {
	strategies.Tx
	w *worker
}

func (t *gatedTx) Commit(ctx context.Context) error {
	t.w.gate(Gate{Kind: "commit"})
	cctx, cancel := context.WithTimeout(ctx, t.w.cfg.Timeouts.Commit)
	defer cancel()
	err := t.Tx.Commit(cctx)
	t.w.gate(Gate{Kind: "commit-done"})
	return err
}

// gatedLog lets the parent act before every round trip of the tailer to its slot, as for the
// Store: a read counts like a BEGIN (cut the link), an advance like a COMMIT (cut the link, or
// stall its reply).
type gatedLog struct {
	inner strategies.ChangeLog
	w     *worker
}

func (l *gatedLog) Read(ctx context.Context, limit int) (strategies.LogBatch, error) {
	l.w.gate(Gate{Kind: "db"})
	return l.inner.Read(ctx, limit)
}

func (l *gatedLog) Advance(ctx context.Context, pos uint64) error {
	l.w.gate(Gate{Kind: "commit"})
	cctx, cancel := context.WithTimeout(ctx, l.w.cfg.Timeouts.Commit)
	defer cancel()
	err := l.inner.Advance(cctx, pos)
	l.w.gate(Gate{Kind: "commit-done"})
	return err
}

// gatedPublisher lets the parent act before every publish (swallow its confirm, cut the link).
type gatedPublisher struct {
	inner strategies.Publisher
	w     *worker
}

func (p *gatedPublisher) Publish(ctx context.Context, m strategies.Message) (strategies.Confirmation, error) {
	if c, ok := p.inner.(interface{ Connect(context.Context) error }); ok {
		_ = c.Connect(ctx) // a failure shows again in Publish
	}
	p.w.gate(Gate{Kind: "publish", Msg: m.ID})
	c, err := p.inner.Publish(ctx, m)
	if err != nil {
		return nil, err
	}
	return &gatedConfirm{inner: c, w: p.w, msg: m.ID}, nil
}

type gatedConfirm struct {
	inner strategies.Confirmation
	w     *worker
	msg   string
}

func (c *gatedConfirm) Wait(ctx context.Context) error {
	c.w.gate(Gate{Kind: "broker"})
	err := c.inner.Wait(ctx)
	c.w.gate(Gate{Kind: "confirm-done", Msg: c.msg})
	return err
}

// gatedSubscription lets the parent act before every broker operation of a consumer: lose an ack,
// drop the connection under a delivery, cut the link.
type gatedSubscription struct {
	inner strategies.Subscription
	w     *worker
}

func (s *gatedSubscription) Next(ctx context.Context) (strategies.Delivery, error) {
	s.w.gate(Gate{Kind: "broker"})
	d, err := s.inner.Next(ctx)
	if err == nil {
		s.w.gate(Gate{Kind: "receive", Msg: d.Msg.ID})
	}
	return d, err
}

func (s *gatedSubscription) Ack(ctx context.Context, tag uint64) error {
	s.w.gate(Gate{Kind: "ack"})
	err := s.inner.Ack(ctx, tag)
	s.w.gate(Gate{Kind: "ack-done"})
	return err
}

func (s *gatedSubscription) Nack(ctx context.Context, tag uint64, requeue bool) error {
	s.w.gate(Gate{Kind: "broker"})
	return s.inner.Nack(ctx, tag, requeue)
}

// gatedMailer lets the parent act before every call to the mail gateway (slow the link).
type gatedMailer struct {
	inner pg.Mailer
	w     *worker
}

func (m *gatedMailer) Send(ctx context.Context, msg history.Message, key string) error {
	m.w.gate(Gate{Kind: "gateway", Msg: msg.ID})
	return m.inner.Send(ctx, msg, key)
}
