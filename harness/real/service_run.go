package real

// Service mode: a team's own code (package service) in the worker processes, with faults fired at
// exact protocol points that the wire toxics see on each worker's links.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/harness/real/wire"
	"github.com/deliveryharness/harness/harness/real/worker"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/service"
)

// Service mode's waits.
const (
	// serviceSetup bounds the service's Setup and each of its Final and Pending reads.
	serviceSetup = 30 * time.Second
	// serviceStop is how long a worker has to return from its loops once told to stop, before
	// it is killed.
	serviceStop = 3 * time.Second
	// serviceSettle is how long the links must have shown no work (no COMMIT, publish, confirm,
	// delivery or ack) before the run may be over.
	serviceSettle = 300 * time.Millisecond
	// serviceCheck is how often, at most, the settle check reads the service's state.
	serviceCheck = 100 * time.Millisecond
	// serviceExits is how many times a worker may exit on its own (its loop returned, or it
	// panicked) and be restarted, as a supervisor would, before the run fails.
	serviceExits = 5
)

// Exit codes of a service worker that the parent reads.
const (
	// exitUsage: the worker cannot run the service at all (not registered, an undeclared point):
	// the run fails at once with the worker's line.
	exitUsage = 7
)

// svcRun is the service-mode part of a run.
type svcRun struct {
	s   *service.Strategy
	svc service.Service // the parent's own instance: Setup, Pending, Final
	env service.Env     // the parent's environment: direct URLs

	mu    sync.Mutex // the schedule, the cursor, inflight
	hooks map[string][]*linkHook
	exits map[string]int // workers' own exits, by name

	// what a consumer's wire events are about: deliveries not yet acked, by worker, in order
	inflight map[string][]string

	// actions queued by the hooks (on the proxies' goroutines) for the run's loop
	qmu    sync.Mutex
	queue  []func()
	notify chan struct{}

	lastBusy atomic.Int64 // the run's clock when a link last showed work

	// the settle check's memory
	checked time.Time
	last    string
	stable  int
	ok      bool
}

// act queues fn for the run's loop; it never blocks (the hooks call it on a proxy's goroutine,
// and the loop may be stopping that proxy).
func (sr *svcRun) act(fn func()) {
	sr.qmu.Lock()
	sr.queue = append(sr.queue, fn)
	sr.qmu.Unlock()
	select {
	case sr.notify <- struct{}{}:
	default:
	}
}

// drain runs the queued actions, on the loop's goroutine.
func (sr *svcRun) drain() {
	sr.qmu.Lock()
	q := sr.queue
	sr.queue = nil
	sr.qmu.Unlock()
	for _, fn := range q {
		fn()
	}
}

// runService runs a scenario of a team's service (service mode).
func (b *Backend) runService(ctx context.Context, sc history.Scenario, s *service.Strategy) (h *history.History, err error) {
	svc, err := s.New()
	if err != nil {
		return nil, fmt.Errorf("real: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, b.Deadline)
	defer cancel()
	r, err := b.newRun(ctx, sc)
	if err != nil {
		return nil, err
	}
	sr := &svcRun{s: s, svc: svc, hooks: map[string][]*linkHook{},
		exits: map[string]int{}, inflight: map[string][]string{}, notify: make(chan struct{}, 1)}
	r.svc = sr
	if b.started != nil {
		b.started(r.runID)
	}
	if r.schema, err = pg.CreateBareSchema(ctx, b.Infra.PostgresURL, r.runID); err != nil {
		return nil, err
	}
	defer func() {
		if r.queue != nil && !r.queue.Deleted() {
			r.schema.Close() // the schema stays as the queue's record, for Clean
			return
		}
		if derr := r.schema.Drop(context.Background()); derr != nil && err == nil {
			err = derr
		}
	}()
	amqpURL, release, err := r.broker(ctx)
	if err != nil {
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
	direct, err := pg.SearchPathURL(b.Infra.PostgresURL, r.schema.Name)
	if err != nil {
		return nil, err
	}
	sr.env = service.Env{Proc: "harness", Postgres: direct, AMQP: amqpURL, Schema: r.schema.Name,
		Queue: r.queue.Name, QueueArgs: amqp.QueueArguments(r.runID), Workload: sc.Workload, Prefetch: sc.Prefetch}
	sctx, scancel := context.WithTimeout(ctx, serviceSetup)
	err = svc.Setup(sctx, sr.env)
	scancel()
	if err != nil {
		return nil, fmt.Errorf("real: service %s: setup: %w", s.Name(), redact.Error(err))
	}

	r.proxies = newProxies()
	defer r.proxies.close()
	defer r.stopAll()
	names := []string{"producer"}
	if s.HasRelay() {
		names = append(names, "relay")
	}
	for i := 1; i <= max(1, sc.Consumers); i++ {
		names = append(names, fault.ConsumerName(i))
	}
	watch := func(n, suffix, link, upstream string, proto wire.Proto) (string, error) {
		hk := newLinkHook(r, n, link)
		proxied, err := r.watchProxy(n+suffix, upstream, hk, proto)
		if err != nil {
			return "", err
		}
		sr.hooks[n] = append(sr.hooks[n], hk)
		return proxied, nil
	}
	defer r.unwatch()
	for _, n := range names {
		if r.pgURL[n], err = watch(n, proxyPostgres, fault.LinkDB, b.Infra.PostgresURL, wire.Postgres); err != nil {
			return nil, err
		}
		if r.pgURL[n], err = pg.SearchPathURL(r.pgURL[n], r.schema.Name); err != nil {
			return nil, err
		}
		if r.mqURL[n], err = watch(n, proxyAMQP, fault.LinkBroker, amqpURL, wire.AMQP); err != nil {
			return nil, err
		}
	}
	if workload.EffectOf(sc.Workload) == workload.External {
		if r.gateway, err = StartGateway(runLog{r}); err != nil {
			return nil, err
		}
		defer func() { _ = r.gateway.Close() }()
		for _, n := range names[1:] {
			if n == "relay" {
				continue
			}
			if r.gwURL[n], err = watch(n, proxyGateway, fault.LinkGateway, r.gateway.URL, wire.Raw); err != nil {
				return nil, err
			}
		}
	}
	for _, n := range names {
		if err := r.spawn(ctx, n); err != nil {
			return nil, err
		}
	}
	runErr := r.loop(ctx)
	r.unacked = r.held.unackedCount()
	if runErr != nil && ctx.Err() != nil {
		if open := r.held.open(); open != "" {
			runErr = fmt.Errorf("%w: %s", runErr, open)
		}
	}
	close(r.done)
	r.stopService()
	fctx, fcancel := context.WithTimeout(context.Background(), serviceSetup)
	defer fcancel()
	h, finalErr := r.serviceHistory(fctx, runErr == nil)
	if runErr == nil && finalErr != nil {
		runErr = finalErr
	}
	if runErr != nil {
		return h, fmt.Errorf("real: service %s on %s: %w", s.Name(), sc.Workload, runErr)
	}
	return h, nil
}

// serviceGate serves a service worker's gate: the producer's next command, or one of the
// service's own points, where a crash may fire.
func (r *run) serviceGate(ctx context.Context, w *wproc, g worker.Gate) (killed bool, err error) {
	sr := r.svc
	switch g.Kind {
	case worker.GateProduce:
		sr.mu.Lock()
		r.cursor++
		sr.mu.Unlock()
		return false, nil
	case worker.GatePoint:
		sr.mu.Lock()
		r.schedule.Pass(w.name, g.Point)
		f := r.schedule.Fire(fault.OpPoint, w.name, g.Point)
		sr.mu.Unlock()
		r.note(w.name, history.OpPoint, "", g.Point)
		if f == nil {
			return false, nil
		}
		r.note("harness", history.OpFault, "", f.String())
		sr.freeze(w.name)
		return crash(ctx, r, w, g, f)
	}
	return false, fmt.Errorf("worker %s: unexpected gate %q in service mode", w.name, g.Kind)
}

// serviceExit handles a service worker that exited on its own: its loop returned, or it
// panicked. It is restarted after the restart delay, as a supervisor would, up to serviceExits
// times; a worker that cannot run the service at all (exitUsage) fails the run at once.
func (r *run) serviceExit(ctx context.Context, w *wproc) error {
	_ = w.cmd.Wait()
	line := lastLine(w.err.String())
	if w.cmd.ProcessState != nil && w.cmd.ProcessState.ExitCode() == exitUsage {
		return fmt.Errorf("worker %s: %s", w.name, line)
	}
	sr := r.svc
	sr.exits[w.name]++
	if sr.exits[w.name] > serviceExits {
		return fmt.Errorf("worker %s exited %d times on its own; last: %s", w.name, sr.exits[w.name], line)
	}
	r.note(w.name, history.OpCrash, "", "exited on its own: "+line)
	name := w.name
	r.after(r.b.RestartDelay, "", func() {
		if err := r.spawn(ctx, name); err == nil {
			r.note(name, history.OpRestart, "", "new process")
		}
	})
	return nil
}

// lastLine is the last non-empty line of s, redacted.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if l == "" {
		l = "(no output)"
	}
	return redact.Text(l)
}

// serviceQuiescent: the producer is done, no fault is in force, every other process is alive,
// the links have shown no work for serviceSettle, the queue is empty, the service has nothing
// pending (Pender), and its final state has not changed between two checks serviceCheck apart.
func (r *run) serviceQuiescent(ctx context.Context) (bool, error) {
	sr := r.svc
	if !r.producerDone || len(r.timers) > 0 {
		return false, nil
	}
	for _, w := range r.workers {
		if w.name != "producer" && w.dead {
			return false, nil
		}
	}
	if r.now()-sr.lastBusy.Load() < serviceSettle.Milliseconds() || r.held.open() != "" {
		sr.stable = 0
		return false, nil
	}
	if time.Since(sr.checked) < serviceCheck {
		return sr.ok, nil
	}
	sr.checked, sr.ok = time.Now(), false
	ready, err := r.queue.Depth(ctx)
	if err != nil || ready > 0 {
		return false, err
	}
	cctx, cancel := context.WithTimeout(ctx, serviceSetup)
	defer cancel()
	if p, ok := sr.svc.(service.Pender); ok {
		n, err := p.Pending(cctx, sr.env)
		if err != nil {
			return false, fmt.Errorf("service %s: pending: %w", sr.s.Name(), redact.Error(err))
		}
		if n > 0 {
			sr.stable = 0
			return false, nil
		}
	}
	st, err := sr.svc.Final(cctx, sr.env)
	if err != nil {
		return false, fmt.Errorf("service %s: final read: %w", sr.s.Name(), redact.Error(err))
	}
	fp := fmt.Sprint(len(st.Committed), len(st.Effects), st.Values)
	if fp != sr.last {
		sr.last, sr.stable = fp, 0
		return false, nil
	}
	sr.stable++
	sr.ok = sr.stable >= 1
	return sr.ok, nil
}

// stopService tells every worker to stop (its stdin closes: the loops' context ends), gives them
// serviceStop to return, and kills what is left.
func (r *run) stopService() {
	r.mu.Lock()
	ws := make([]*wproc, 0, len(r.workers))
	for _, w := range r.workers {
		if !w.dead {
			w.dead = true
			ws = append(ws, w)
		}
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, w := range ws {
		_ = w.stdin.Close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			done := make(chan struct{})
			go func() { _ = w.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(serviceStop):
				_ = w.cmd.Process.Kill()
				<-done
				r.note(w.name, history.OpCrash, "", fmt.Sprintf("did not stop within %s of being told to; killed", serviceStop))
			}
		}()
	}
	wg.Wait()
}

// serviceHistory is the run's events in time order with the service's final state, and the
// points its processes reached.
func (r *run) serviceHistory(ctx context.Context, quiesced bool) (*history.History, error) {
	sr := r.svc
	sr.mu.Lock()
	h := r.timeline(quiesced)
	sr.mu.Unlock()
	st, err := sr.svc.Final(ctx, sr.env)
	if err != nil {
		return h, fmt.Errorf("final read of service %s: %w", sr.s.Name(), redact.Error(err))
	}
	h.Final = history.Final{Committed: st.Committed, Effects: st.Effects, Values: st.Values}
	ready, err := r.queue.Depth(ctx)
	if err != nil {
		return h, fmt.Errorf("final read of the queue depth: %w", err)
	}
	h.Final.Ready = ready
	h.Final.Unacked = r.unacked
	return h, nil
}
