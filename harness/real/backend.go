package real

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/rabbitnode"
	"github.com/deliveryharness/harness/harness/real/wire"
	"github.com/deliveryharness/harness/harness/real/worker"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/service"
	"github.com/deliveryharness/harness/strategies"
)

// Backend runs scenarios on real servers: every component (producer, relay, consumers) is a
// separate OS process (this binary re-executed as a worker) with its own connections through its
// own Toxiproxy proxies. A crash is a SIGKILL at the named fault point; a restart is a new
// process. Each run has its own schema and queue and removes them afterwards.
type Backend struct {
	Infra        Infra
	Timeouts     worker.Timeouts
	RestartDelay time.Duration // between a kill and the new process
	Deadline     time.Duration // a run that has not settled by then fails
	// Executable is the binary re-executed as a worker; empty means this one. It must call
	// WorkerMain when IsWorker is true.
	Executable string

	// The first run cleans up after killed runs (Clean), once per Backend.
	cleanOnce sync.Once
	cleanErr  error

	// beforeFinal, when set (tests), is called after the run settled and before its final reads.
	beforeFinal func(ctx context.Context, schema string)
	// started, when set (tests), is told each service run's id as it starts.
	started func(runID string)
}

// cleanUp reaps what killed runs left on the servers, at the backend's first run.
func (b *Backend) cleanUp(ctx context.Context) error {
	b.cleanOnce.Do(func() {
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, b.cleanErr = Clean(ctx, b.Infra, false)
		if b.cleanErr != nil {
			b.cleanErr = fmt.Errorf("real: clean up after killed runs: %w", b.cleanErr)
		}
	})
	return b.cleanErr
}

// NewBackend returns a backend on the given servers with the default timeouts.
func NewBackend(inf Infra) *Backend {
	return &Backend{Infra: inf, Timeouts: worker.DefaultTimeouts(), RestartDelay: 30 * time.Millisecond, Deadline: time.Minute}
}

// Name implements harness.Backend.
func (*Backend) Name() string { return "real" }

// Run implements harness.Backend.
func (b *Backend) Run(ctx context.Context, sc history.Scenario, p strategies.Producer, c strategies.Consumer) (h *history.History, err error) {
	if err := natsRefuses(sc, p); err != nil {
		return nil, err
	}
	if svc, ok := service.Of(p); ok {
		// A team's service (service mode): its own code runs in the workers.
		if cs, ok := service.Of(c); !ok || cs.Name() != svc.Name() {
			return nil, fmt.Errorf("real: service %s runs with its own consumer, not %s", svc.Name(), c.Name())
		}
		return b.runService(ctx, sc, svc)
	}
	if _, ok := service.Of(c); ok {
		return nil, fmt.Errorf("real: service %s runs with its own producer, not %s", c.Name(), p.Name())
	}
	// The workers are new processes: each finds its strategy's constructor by name in the
	// registry and builds its own instance. A value whose name is registered to another strategy
	// is refused rather than replaced by the registered one.
	if _, err := strategies.ProducerConstructor(p.Name()); err != nil {
		return nil, fmt.Errorf("real: worker processes run registered strategies only: %w", err)
	}
	if _, err := strategies.ConsumerConstructor(c.Name()); err != nil {
		return nil, fmt.Errorf("real: worker processes run registered strategies only: %w", err)
	}
	if _, err := strategies.ProducerFor(p); err != nil {
		return nil, fmt.Errorf("real: %w", err)
	}
	if _, err := strategies.ConsumerFor(c); err != nil {
		return nil, fmt.Errorf("real: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.Deadline)
	defer cancel()
	r, err := b.newRun(ctx, sc)
	if err != nil {
		return nil, err
	}
	// The schema holds the run's liveness marker from before it exists until it is dropped,
	// last: while it is held, Clean (here or in another process) leaves the run alone.
	if r.schema, err = pg.CreateSchema(ctx, b.Infra.PostgresURL, r.runID); err != nil {
		return nil, err
	}
	defer func() {
		if r.slot != nil && !r.slot.Dropped() || r.queue != nil && !r.queue.Deleted() || r.stream != nil && !r.stream.Deleted() {
			// The slot or the queue outlived the run: the schema stays as their record, and the
			// liveness marker goes, so that Clean takes them all.
			r.schema.Close()
			return
		}
		if derr := r.schema.Drop(context.Background()); derr != nil && err == nil {
			err = derr
		}
	}()
	if strategies.TailsLog(p) {
		if r.slot, err = pg.CreateSlot(ctx, b.Infra.PostgresURL, r.schema.Name); err != nil {
			return nil, err
		}
		// Dropped before the schema, after the workers are gone, also after a failure or an interrupt.
		defer func() {
			if derr := r.slot.Drop(context.Background()); derr != nil && err == nil {
				err = derr
			}
		}()
	}
	var amqpURL string // the broker's URL: RabbitMQ's, or NATS's (nats_run.go)
	if r.onNATS() {
		if amqpURL, err = r.openStream(ctx); err != nil {
			return nil, err
		}
		defer r.closeStream(&err)
	} else {
		var release func()
		if amqpURL, release, err = r.broker(ctx); err != nil {
			return nil, err
		}
		defer release()
		if r.queue, err = amqp.DeclareQueue(ctx, amqpURL, r.runID); err != nil {
			return nil, err
		}
		defer func() {
			if derr := r.queue.Delete(context.Background()); derr != nil && err == nil {
				err = derr
			}
			_ = r.queue.Close()
		}()
	}
	if err := r.startChain(ctx, b.Infra.AMQPURL); err != nil { // on RabbitMQ whatever the run's broker
		_ = r.deleteChainQueue()
		return nil, err
	}
	defer func() {
		if derr := r.deleteChainQueue(); derr != nil && err == nil {
			err = derr
		}
	}()
	r.proxies = newProxies()
	defer r.proxies.close()
	defer r.stopAll()

	var names []string
	for i := 1; i <= fault.ProducersOf(sc.Fault); i++ {
		names = append(names, fault.ProducerName(i))
	}
	if strategies.HasRelay(p) {
		names = append(names, "relay")
	}
	for i := 1; i <= max(1, sc.Consumers); i++ {
		names = append(names, fault.ConsumerName(i))
	}
	// The wire toxics are on both streams of each database and broker link before the workers
	// connect, so that they see every connection from its start (wire_catalogue.go).
	defer r.unwatch()
	for _, n := range names {
		if r.pgURL[n], err = r.watchCatalogue(n, proxyPostgres, b.Infra.PostgresURL, wire.Postgres); err != nil {
			return nil, err
		}
		if r.mqURL[n], err = r.watchCatalogue(n, proxyAMQP, amqpURL, r.brokerProto()); err != nil {
			return nil, err
		}
	}
	if workload.EffectOf(sc.Workload) == workload.External {
		if r.gateway, err = StartGateway(runLog{r}); err != nil {
			return nil, err
		}
		defer func() { _ = r.gateway.Close() }()
		for _, n := range names {
			if history.RoleOf(n) == history.RoleProducer || n == "relay" {
				continue // only consumers send emails
			}
			if r.gwURL[n], err = r.proxies.add(n+proxyGateway, r.gateway.URL); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range names {
		if r.newSubscriber() && history.RoleOf(n) == history.RoleConsumer {
			continue // they start when their queue is bound (bindSubscriber)
		}
		if err := r.spawn(ctx, n); err != nil {
			return nil, err
		}
	}
	runErr := r.loop(ctx)
	r.unacked = r.held.unackedCount()
	close(r.done)
	r.stopAll()
	r.stopChain()
	// The final reads get their own deadline: the run's may be spent.
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	if runErr == nil && b.beforeFinal != nil {
		b.beforeFinal(fctx, r.schema.Name)
	}
	h, finalErr := r.history(fctx, runErr == nil)
	if runErr == nil && finalErr != nil {
		// No verdict without ground truth: the invariants would judge an empty state.
		runErr = finalErr
	}
	if runErr != nil {
		return h, fmt.Errorf("real: %s/%s/%s: %w", sc.Producer, sc.Consumer, sc.Workload, runErr)
	}
	return h, nil
}

// newRun starts a run of sc within ctx, the run's deadline: the worker binary found, and what
// killed runs left cleaned up (once per Backend).
func (b *Backend) newRun(ctx context.Context, sc history.Scenario) (*run, error) {
	exe := b.Executable
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("real: worker binary: %w", err)
		}
	}
	if err := b.cleanUp(ctx); err != nil {
		return nil, err
	}
	return &run{
		b: b, sc: sc, exe: exe, epoch: time.Now(), runID: NewRunID(), ctx: ctx,
		pgURL: map[string]string{}, mqURL: map[string]string{}, gwURL: map[string]string{},
		workers: map[string]*wproc{}, msgs: make(chan wmsg, 256), done: make(chan struct{}), wires: map[string]*wireHook{},
		held:     newHeld(),
		cursors:  map[string]int{},
		doneBy:   map[string]bool{},
		schedule: fault.NewSchedule(sc.Faults),
	}, nil
}

// run is one scenario on real servers.
type run struct {
	b       *Backend
	sc      history.Scenario
	exe     string
	epoch   time.Time
	runID   string
	schema  *pg.Schema
	slot    *pg.Slot // the replication slot, when the producer tails the log
	queue   *amqp.Queue
	stream  *nats.Stream     // the run's stream on NATS, in place of the queue (nats_run.go)
	node    *rabbitnode.Node // the run's own RabbitMQ node (broker-restart), nil on the shared server
	proxies *proxies
	pgURL   map[string]string
	mqURL   map[string]string
	gwURL   map[string]string // consumers' way to the mail gateway (emails)
	gateway *Gateway          // the mail gateway, for an emails run
	chain   *chainRun         // the chain workload's downstream hop (chain.go)

	mu       sync.Mutex
	events   []history.Event
	workers  map[string]*wproc
	msgs     chan wmsg
	done     chan struct{} // closed when the run ends: the workers' readers stop sending
	schedule *fault.Schedule
	timers   []rtimer
	asyncErr error                // a mechanism that finished in the background failed (broker-restart); the loop ends the run with it
	wires    map[string]*wireHook // a catalogue run's wire hooks, by proxy
	held     *held                // what the connections hold open: unacked deliveries, withheld replies
	unacked  int                  // deliveries held unacknowledged when the run's loop ended
	stops    []func()             // the wire hooks to unregister

	cursor  int            // a service's producer's next command
	cursors map[string]int // each catalogue producer process's next command, in its share
	doneBy  map[string]bool
	// A COMMIT that concurrent-producers holds: the worker whose gate reply waits, and the
	// messages of the other producer's whose confirm releases it.
	holding *wproc
	holdFor map[string]bool
	// The second producer, parked at its first command until the held COMMIT opens the window
	// (or the first producer is done), so that its change comes after the held one's.
	parked       *wproc
	interleaved  bool
	producerDone bool
	subscribed   bool // new-subscriber: the new subscriber's queue is bound and its consumers run

	// service mode (runService)
	ctx    context.Context // the run's, for what the wire hooks queue
	svc    *svcRun
	svcErr error // a mechanism's error, queued by a hook
}

type rtimer struct {
	at   time.Time
	what string
	fn   func()
}

// wproc is one worker process.
type wproc struct {
	name  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
	idle  bool
	dead  bool
	gen   int // incarnation
	err   bytes.Buffer

	reorder bool // the reply to the gate being served is ReplyReorder: the reorder fault fired there
}

type wmsg struct {
	w   *wproc
	gen int
	m   worker.Message
	eof bool
}

func (r *run) now() int64 { return time.Since(r.epoch).Milliseconds() }

func (r *run) note(proc, op, msg, detail string) {
	r.noteEvent(history.Event{Proc: proc, Op: op, Msg: msg, Detail: detail})
}

// noteEvent records e, now.
func (r *run) noteEvent(e history.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e.Time = r.now()
	r.events = append(r.events, e)
}

// loop serves the workers' gates and events until quiescence or the deadline.
func (r *run) loop(ctx context.Context) error {
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	settled := 0
	var acts chan struct{} // service mode: what the wire hooks queued
	if r.svc != nil {
		acts = r.svc.notify
	}
	for {
		select {
		case <-acts:
			r.svc.drain()
			if r.svcErr != nil {
				return r.svcErr
			}
		case <-ctx.Done():
			return fmt.Errorf("no quiescence before the deadline: %w", ctx.Err())
		case m := <-r.msgs:
			if err := r.handle(ctx, m); err != nil {
				return err
			}
			if busy(m) {
				settled = 0
			}
		case <-tick.C:
			for i := 0; i < len(r.timers); {
				t := r.timers[i]
				if time.Now().Before(t.at) {
					i++
					continue
				}
				r.timers = slices.Delete(r.timers, i, i+1)
				t.fn()
				if t.what != "" {
					r.note("harness", history.OpHeal, "", t.what)
				}
			}
			if r.asyncErr != nil {
				return r.asyncErr
			}
			quiescent := r.quiescent
			if r.svc != nil {
				quiescent = r.serviceQuiescent
			}
			ok, err := quiescent(ctx)
			if err != nil {
				return err
			}
			if ok {
				settled++
			} else {
				settled = 0
			}
			if settled >= 3 {
				r.note("harness", history.OpQuiesce, "", "")
				return nil
			}
		}
	}
}

// busy reports whether a worker's message shows work: an event, or a gate other than the polls of
// an idle relay or consumer.
func busy(m wmsg) bool {
	switch {
	case m.eof || m.m.Event != nil || m.m.Done:
		return true
	case m.m.Gate != nil:
		return !m.m.Gate.Kind.Polls()
	}
	return false
}

func (r *run) handle(ctx context.Context, m wmsg) error {
	r.mu.Lock()
	current := r.workers[m.w.name] == m.w && m.gen == m.w.gen
	r.mu.Unlock()
	w := m.w
	switch {
	case m.eof:
		if err := ctx.Err(); err != nil {
			// The run's context ended and took its worker processes with it.
			return fmt.Errorf("no quiescence before the deadline: %w", err)
		}
		if current && !w.dead && r.svc != nil {
			w.dead = true
			return r.serviceExit(ctx, w)
		}
		if current && !w.dead {
			w.dead = true
			_ = w.cmd.Wait()
			return fmt.Errorf("worker %s exited: %s", w.name, bytes.TrimSpace(w.err.Bytes()))
		}
		return nil
	case !current:
		return nil
	case m.m.Event != nil:
		r.mu.Lock()
		r.events = append(r.events, *m.m.Event)
		r.mu.Unlock()
	case m.m.Idle:
		w.idle = true
	case m.m.Done:
		r.doneBy[w.name] = true
		r.producerDone = r.svc != nil || len(r.doneBy) >= fault.ProducersOf(r.sc.Fault)
		if w.name == fault.ProducerName(1) {
			r.unpark()
		}
	case m.m.Gate != nil:
		if !m.m.Gate.Kind.Polls() {
			w.idle = false
		}
		gate := r.gate
		if r.svc != nil {
			gate = r.serviceGate
		}
		killed, err := gate(ctx, w, *m.m.Gate)
		if err != nil {
			return err
		}
		if !killed && (r.holding == w || r.parked == w) {
			break // concurrent-producers: the reply waits for the other producer
		}
		if !killed {
			reply := worker.ReplyGo
			if w.reorder {
				reply, w.reorder = worker.ReplyReorder, false
			}
			if err := worker.WriteReply(w.stdin, reply); err != nil && !w.dead {
				return fmt.Errorf("worker %s: %w", w.name, err)
			}
		}
	}
	return nil
}

// quiescent: the producer is done, no fault is in force, every component process is alive and
// idle, nothing waits in the outbox (for a log tailer: in its slot), and the queue is empty.
func (r *run) quiescent(ctx context.Context) (bool, error) {
	if !r.producerDone || len(r.timers) > 0 || r.held.open() != "" {
		return false, nil
	}
	for _, w := range r.workers {
		if history.RoleOf(w.name) != history.RoleProducer && (w.dead || !w.idle) {
			return false, nil
		}
	}
	n, err := r.outstanding(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	if late, err := r.subscribeLate(ctx); late || err != nil {
		return false, err
	}
	ready, _, err := r.brokerDepth(ctx)
	if err != nil || ready > 0 {
		return false, err
	}
	return r.chainSettled(ctx)
}

// history is the run's events in time order with the final reads. The history is returned even
// when a read fails, for its events; the error says the final state is not known, and then no
// verdict may be drawn from it.
func (r *run) history(ctx context.Context, quiesced bool) (*history.History, error) {
	h := r.timeline(quiesced)
	f, err := r.schema.Final(ctx)
	if err != nil {
		return h, fmt.Errorf("final read of the database: %w", err)
	}
	h.Final = f
	if p, perr := strategies.LookupProducer(r.sc.Producer); perr == nil && strategies.EventSourced(p) {
		if h.Final.Committed, err = r.schema.Events(ctx); err != nil { // the events are the state
			return h, fmt.Errorf("final read of the events: %w", err)
		}
	}
	if r.chain != nil {
		if err := r.schema.FinalChain(ctx, &h.Final); err != nil {
			return h, fmt.Errorf("final read of the chain: %w", err)
		}
	}
	if r.gateway != nil {
		h.Final.Effects = r.gateway.Effects() // the emails the gateway accepted
	}
	ready, unacked, err := r.brokerDepth(ctx)
	if err != nil {
		return h, fmt.Errorf("final read of the queue depth: %w", err)
	}
	h.Final.Ready = ready - unacked
	h.Final.Unacked = r.unacked + unacked
	return h, nil
}

// timeline is the run's history without its final reads: its events in time order, and the
// fault points its processes passed.
func (r *run) timeline(quiesced bool) *history.History {
	r.mu.Lock()
	events := slices.Clone(r.events)
	r.mu.Unlock()
	sort.SliceStable(events, func(i, j int) bool { return events[i].Time < events[j].Time })
	return &history.History{Backend: "real", Run: r.runID, Scenario: r.sc, Events: events, Quiesced: quiesced, Reached: r.schedule.Reached()}
}

// slotName is the run's slot's name for the workers; empty when the producer does not tail the log.
func (r *run) slotName() string {
	if r.slot == nil {
		return ""
	}
	return r.slot.Name
}

// outstanding is the work still to publish: the outbox rows not yet marked published and above
// every relay cursor (an offset relay's, which marks nothing: pg.Schema.Outstanding), or for a
// log tailer (which marks nothing either) the outbox inserts its slot still holds. A slot that
// the tailer held the whole time counts as work left.
func (r *run) outstanding(ctx context.Context) (int, error) {
	if r.slot == nil {
		return r.schema.Outstanding(ctx)
	}
	n, err := r.slot.Backlog(ctx)
	if pg.SlotBusy(err) {
		return 1, nil
	}
	return n, err
}
