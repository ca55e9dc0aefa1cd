package real

// Service mode: a team's own code (package service) in the worker processes, with faults fired at
// exact protocol points that the wire toxics see on each worker's links.

import (
	"context"
	"fmt"
	"slices"
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

// Ended implements wire.Closer: a connection that ends holds nothing more and waits for
// nothing more.
func (h *linkHook) Ended(conn uint64, _ bool) {
	h.r.held.end(heldConn{h.proc, h.link, conn})
	h.r.svc.lastBusy.Store(h.r.now())
}

// linkHook watches one link of one worker (wire.Hook): the protocol events on it, and the
// epochs of the worker's incarnations, so that the links of a process being killed forward
// nothing more while the next incarnation's go through.
type linkHook struct {
	r      *run
	proc   string
	link   string // fault.LinkDB, LinkBroker or LinkGateway
	epoch  atomic.Uint64
	frozen atomic.Int64 // connections opened at an epoch up to this one forward nothing; -1: none
}

func newLinkHook(r *run, proc, link string) *linkHook {
	h := &linkHook{r: r, proc: proc, link: link}
	h.frozen.Store(-1)
	return h
}

// Epoch implements wire.Hook.
func (h *linkHook) Epoch() uint64 { return h.epoch.Load() }

// Frozen implements wire.Hook.
func (h *linkHook) Frozen(e uint64) bool { return int64(e) <= h.frozen.Load() }

// Decide implements wire.Hook.
func (h *linkHook) Decide(ev wire.Event) wire.Action { return h.r.decide(h, ev) }

// freeze stops every link of a worker's current incarnation: what it sends or receives from now
// on goes nowhere. Its next incarnation (incarnate) opens connections that are not frozen.
func (sr *svcRun) freeze(proc string) {
	for _, h := range sr.hooks[proc] {
		h.frozen.Store(int64(h.epoch.Load()))
	}
}

// incarnate starts a new epoch on a worker's links, for its next process.
func (sr *svcRun) incarnate(proc string) {
	for _, h := range sr.hooks[proc] {
		h.epoch.Add(1)
	}
}

// wireOps is what each protocol event counts as, for the faults that watch it, in order: at
// most one fault fires per event.
var wireOps = map[wire.Kind][]fault.Op{
	wire.PGCommit:    {fault.OpLink, fault.OpPoint, fault.OpCommit, fault.OpDB},
	wire.PGReady:     {fault.OpLink, fault.OpDB},
	wire.AMQPPublish: {fault.OpLink, fault.OpPoint, fault.OpBroker},
	wire.AMQPConfirm: {fault.OpLink, fault.OpPoint, fault.OpPublish, fault.OpBroker},
	wire.AMQPDeliver: {fault.OpLink, fault.OpPoint, fault.OpReceive, fault.OpDelivery, fault.OpBroker},
	wire.AMQPAck:     {fault.OpLink, fault.OpPoint, fault.OpAck, fault.OpBroker},
	wire.AMQPNack:    {fault.OpLink, fault.OpBroker},
}

// wirePoint is the protocol point an event is, if any.
var wirePoint = map[wire.Kind]string{
	wire.PGCommit:    service.PointCommit,
	wire.AMQPPublish: service.PointPublish,
	wire.AMQPConfirm: service.PointConfirm,
	wire.AMQPDeliver: service.PointDeliver,
	wire.AMQPAck:     service.PointAck,
}

// decide is what a protocol event on a worker's link does: it goes into the timeline, counts
// for the faults that watch it, and a fault that fires there says what happens to its bytes.
func (r *run) decide(h *linkHook, ev wire.Event) wire.Action {
	sr := r.svc
	if ev.Kind != wire.PGReady {
		sr.lastBusy.Store(r.now())
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	e, seen := r.wireEvent(h.proc, ev)
	act, f := r.wireFault(h, ev)
	r.held.see(heldConn{h.proc, h.link, ev.Conn}, ev, act)
	if seen {
		what := map[wire.Action]string{
			wire.Withhold:  "withheld on the wire: it never reaches the client",
			wire.Drop:      "dropped on the wire",
			wire.DropReset: "dropped on the wire, and the connection reset",
			wire.Defer:     "held back on the wire until the next delivery passed",
			wire.Hold:      "on the wire; then the process's links froze",
		}[act]
		if what != "" {
			e.Detail = strings.Replace(e.Detail, "on the wire", what, 1)
		}
		if act == wire.Withhold || act == wire.Drop || act == wire.DropReset {
			e.Outcome = history.Unknown
		}
		r.noteEvent(e)
	}
	if f != nil {
		r.noteEvent(history.Event{Proc: "harness", Op: history.OpFault, Detail: f.String() + " at " + string(ev.Kind) + " on the wire"})
	}
	return act
}

// wireFault counts a protocol event for the faults that watch it, and returns what the fault
// that fires there, if any, does to its bytes. The caller holds sr.mu.
func (r *run) wireFault(h *linkHook, ev wire.Event) (wire.Action, *history.Fault) {
	sr := r.svc
	point := wirePoint[ev.Kind]
	if point != "" && !slices.Contains(service.ProtocolPoints(history.RoleOf(h.proc), sr.s.HasRelay()), point) {
		point = "" // a producer with a relay publishes nothing of its own
	}
	if point != "" {
		r.schedule.Pass(h.proc, point)
	}
	for _, op := range wireOps[ev.Kind] {
		var f *history.Fault
		switch op {
		case fault.OpLink:
			f = r.schedule.FireLink(h.proc, h.link)
		case fault.OpPoint:
			if point == "" {
				continue
			}
			f = r.schedule.Fire(op, h.proc, point)
		default:
			f = r.schedule.Fire(op, h.proc, "")
		}
		if f == nil {
			continue
		}
		return r.fireWire(h, f), f
	}
	return wire.Pass, nil
}

// fireWire is the mechanism of fault f, fired at a protocol event on h's link: what happens to
// the event's bytes, and what the run's loop does next (queued: it may stop proxies).
func (r *run) fireWire(h *linkHook, f *history.Fault) wire.Action {
	sr, proc := r.svc, h.proc
	ctx := r.ctx
	w := &wproc{name: proc} // the mechanisms below read its name only
	switch f.Kind {
	case fault.CrashProducer, fault.CrashRelay, fault.CrashConsumer:
		// The event passes, then the process's links freeze: nothing it does after it reaches a
		// server, however long the SIGKILL takes to land.
		sr.freeze(proc)
		sr.act(func() {
			if cur := r.workers[proc]; cur != nil && !cur.dead {
				_, _ = crash(ctx, r, cur, worker.Gate{Point: f.Point}, f)
			}
		})
		return wire.Hold
	case fault.AmbiguousCommit:
		return wire.Withhold
	case fault.LostConfirm:
		return wire.Drop
	case fault.LostAck:
		return wire.DropReset
	case fault.Reorder:
		return wire.Defer
	case fault.ConcurrentConsumers:
		sr.act(func() { r.mechanismErr(dropConnection(ctx, r, w, worker.Gate{}, f)) })
		return wire.Hold
	case fault.PartitionDB:
		sr.act(func() { r.mechanismErr(cutDBLink(ctx, r, w, worker.Gate{}, f)) })
		return wire.Hold
	case fault.PartitionBroker:
		sr.act(func() { r.mechanismErr(cutBrokerLink(ctx, r, w, worker.Gate{}, f)) })
		return wire.Hold
	case fault.BrokerDown:
		sr.act(func() { r.mechanismErr(brokerDown(ctx, r, w, worker.Gate{}, f)) })
		return wire.Hold
	case fault.Latency:
		sr.act(func() { r.mechanismErr(slowLink(ctx, r, w, worker.Gate{}, f)) })
		return wire.Pass
	}
	return wire.Pass
}

// mechanismErr keeps a mechanism's error for the run's loop.
func (r *run) mechanismErr(_ bool, err error) {
	if err != nil && r.svcErr == nil {
		r.svcErr = err
	}
}

// wireEvent is the timeline's event for a protocol event: what the toxics saw, with the message
// it concerns where the frames or the run tell it (a publish's or a delivery's message-id; a
// producer's COMMIT is its command's; a consumer's COMMIT and ack, its oldest delivery not yet
// acked). The caller holds sr.mu.
func (r *run) wireEvent(proc string, ev wire.Event) (history.Event, bool) {
	sr := r.svc
	e := history.Event{Proc: proc, Outcome: history.OK}
	switch ev.Kind {
	case wire.PGCommit:
		e.Op, e.Detail = history.OpCommit, "COMMIT reply on the wire"
		switch {
		case proc == "producer" && r.cursor > 0 && r.cursor <= len(r.sc.Commands):
			e.Msg = r.sc.Commands[r.cursor-1].ID
		case history.RoleOf(proc) == "consumer" && len(sr.inflight[proc]) > 0:
			e.Msg = sr.inflight[proc][0]
		}
	case wire.AMQPPublish:
		e.Op, e.Msg, e.Detail = history.OpPublish, ev.MessageID, "basic.publish on the wire"
	case wire.AMQPConfirm:
		e.Op, e.Detail = history.OpConfirm, fmt.Sprintf("basic.ack (confirm) tag %d on the wire", ev.DeliveryTag)
		if ev.Multiple {
			e.Detail += ", multiple"
		}
	case wire.AMQPDeliver:
		e.Op, e.Msg, e.Redelivered = history.OpReceive, ev.MessageID, ev.Redelivered
		e.Detail = fmt.Sprintf("basic.deliver tag %d on the wire", ev.DeliveryTag)
		sr.inflight[proc] = append(sr.inflight[proc], ev.MessageID)
	case wire.AMQPAck, wire.AMQPNack:
		e.Op = history.OpAck
		if ev.Kind == wire.AMQPNack {
			e.Op = history.OpNack
		}
		e.Detail = fmt.Sprintf("%s tag %d on the wire", strings.TrimPrefix(string(ev.Kind), "amqp."), ev.DeliveryTag)
		if q := sr.inflight[proc]; len(q) > 0 {
			e.Msg, sr.inflight[proc] = q[0], q[1:]
		}
	default:
		return e, false
	}
	return e, true
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
	if r.queue, err = amqp.DeclareQueue(ctx, b.Infra.AMQPURL, r.runID); err != nil {
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
	sr.env = service.Env{Proc: "harness", Postgres: direct, AMQP: b.Infra.AMQPURL, Schema: r.schema.Name,
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
		if r.mqURL[n], err = watch(n, proxyAMQP, fault.LinkBroker, b.Infra.AMQPURL, wire.AMQP); err != nil {
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
