package real

// The real backend's table from operations to fault mechanisms, and the mechanisms: what each
// fault kind does to the processes and the links (Toxiproxy proxies) when it fires.

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/wire"
	"github.com/deliveryharness/harness/harness/real/worker"
)

// Each worker has one proxy per server, named after the worker with these suffixes.
const (
	proxyPostgres = "/postgres"
	proxyAMQP     = "/amqp"
	proxyGateway  = "/gateway"
)

// mechanism is what fault f, firing at the worker w's gate at, does on the real servers; it
// reports whether it killed the worker.
type mechanism func(ctx context.Context, r *run, w *wproc, at worker.Gate, f *history.Fault) (killed bool, err error)

// site is an operation that faults watch, at a gate of the worker protocol; an operation on a
// link (fault.OpLink) names the worker's link.
type site struct {
	gate worker.GateKind
	op   fault.Op
	link string
}

// operations is where the operations that faults watch happen on a worker: at a gate of its
// kind, these operations in this order, each counted for the fault kinds that watch it (their
// declaration in package fault), until a mechanism kills the worker.
var operations = []site{
	{worker.GatePoint, fault.OpPoint, ""},

	{worker.GateCommit, fault.OpLink, fault.LinkDB},
	{worker.GateCommit, fault.OpCommit, ""},
	{worker.GateCommit, fault.OpDB, ""},

	{worker.GateDB, fault.OpLink, fault.LinkDB},
	{worker.GateDB, fault.OpDB, ""},

	{worker.GateAck, fault.OpLink, fault.LinkBroker},
	{worker.GateAck, fault.OpAck, ""},
	{worker.GateAck, fault.OpBroker, ""},

	{worker.GatePublish, fault.OpLink, fault.LinkBroker},
	{worker.GatePublish, fault.OpPublish, ""},
	{worker.GatePublish, fault.OpBroker, ""},

	{worker.GateConfirm, fault.OpLink, fault.LinkBroker},
	{worker.GateConfirm, fault.OpBroker, ""},

	{worker.GateBroker, fault.OpLink, fault.LinkBroker},
	{worker.GateBroker, fault.OpBroker, ""},

	{worker.GateGateway, fault.OpLink, fault.LinkGateway},

	{worker.GateReorder, fault.OpDelivery, ""},
	{worker.GateReceive, fault.OpReceive, ""},
}

// mechanisms is the table from fault kinds (and so from the operation each watches, in its
// declaration) to what each does when it fires. A new fault kind is a row; a new mechanism, a
// function below.
var mechanisms = map[string]mechanism{
	fault.CrashProducer:       crash,
	fault.CrashRelay:          crash,
	fault.CrashConsumer:       crash,
	fault.AmbiguousCommit:     onWire(proxyPostgres, wire.PGCommit, wire.Withhold, worker.GateCommitDone),
	fault.LostConfirm:         onWire(proxyAMQP, wire.AMQPConfirm, wire.Drop, worker.GateConfirmDone),
	fault.LostAck:             onWire(proxyAMQP, wire.AMQPAck, wire.DropReset, worker.GateAckDone),
	fault.ConcurrentConsumers: dropConnection,
	fault.PartitionDB:         cutDBLink,
	fault.PartitionBroker:     cutBrokerLink,
	fault.BrokerDown:          brokerDown,
	fault.BrokerRestart:       brokerRestart,
	fault.ConcurrentProducers: holdCommit,
	fault.Latency:             slowLink,
	fault.Reorder:             reorder,
	fault.NewSubscriber:       bindQueue,
	fault.LateRedelivery:      crash, // restarted fault.LateBy later (restartDelay)
}

// gate decides what the faults do at a worker's gate; it reports whether the worker was killed.
func (r *run) gate(ctx context.Context, w *wproc, g worker.Gate) (killed bool, err error) {
	if history.RoleOf(w.name) == history.RoleProducer && g.Kind == worker.GateProduce {
		r.cursors[w.name]++
		if w.name == fault.ProducerName(2) && r.sc.Fault == fault.ConcurrentProducers && !r.interleaved && !r.doneBy[fault.ProducerName(1)] {
			r.parked = w // its first command waits for the first producer's held COMMIT
		}
	}
	if g.Kind == worker.GateConfirmDone && r.holding != nil && r.holdFor[g.Msg] {
		r.releaseHold() // an event of the other producer's reached the broker: the held COMMIT goes now
	}
	if err := r.settleWire(w, g); err != nil {
		return false, err
	}
	if g.Kind == worker.GatePoint {
		r.schedule.Pass(w.name, g.Point) // the run's coverage (History.Reached)
	}
	for _, o := range operations {
		if o.gate != g.Kind {
			continue
		}
		var f *history.Fault
		if o.op == fault.OpLink {
			f = r.schedule.FireLink(w.name, o.link)
		} else {
			f = r.schedule.Fire(o.op, w.name, pointOf(g))
		}
		if f == nil {
			continue
		}
		r.note(w.name, history.OpFault, "", f.String())
		if killed, err := mechanisms[f.Kind](ctx, r, w, g, f); killed || err != nil {
			return killed, err
		}
	}
	return false, nil
}

// pointOf is what a schedule counts a gate's operations at: the fault point of a GatePoint, the
// protocol site of a database or broker operation (as the simulator's ports pass them).
func pointOf(g worker.Gate) string {
	switch g.Kind {
	case worker.GateDB:
		return fault.SiteBegin
	case worker.GateCommit:
		return fault.SiteCommit
	case worker.GatePublish:
		return fault.SitePublish
	case worker.GateConfirm:
		return fault.SiteConfirm
	case worker.GateAck:
		return fault.SiteAck
	}
	return g.Point // GatePoint's fault point; GateBroker's site (Next, Nack)
}

func (r *run) after(d time.Duration, what string, fn func()) {
	r.timers = append(r.timers, rtimer{at: time.Now().Add(d), what: what, fn: fn})
}

// crash SIGKILLs the worker at its fault point and starts a new process after the restart delay.
//
// What the death does to the servers needs no code here: the kernel closes the dead process's
// sockets and each server resets what it held for it, as the simulator's reset hooks model it
// (harness/sim/crash.go). PostgreSQL ends the connection's backend (its open transaction aborts,
// its locks are released); RabbitMQ closes its channels (unacknowledged deliveries go back to the
// queue flagged redelivered; unconfirmed publishes get no confirm); the mail gateway holds nothing
// between requests. The proxies and their toxics, like the simulator's links, outlive it.
func crash(ctx context.Context, r *run, w *wproc, at worker.Gate, f *history.Fault) (bool, error) {
	name := w.name
	r.note(name, history.OpCrash, "", at.Point+" (SIGKILL)")
	r.kill(w)
	r.observeBroker(ctx, name)
	r.after(r.restartDelay(f), "", func() {
		if err := r.spawn(ctx, name); err == nil {
			r.note(name, history.OpRestart, "", "new process")
		}
	})
	return true, nil
}

// observeBroker records what the broker holds once a dead process's connection is gone: the
// deliveries it had not acknowledged are back in the queue, flagged redelivered.
func (r *run) observeBroker(ctx context.Context, name string) {
	time.Sleep(50 * time.Millisecond) // the broker sees the closed socket at once; give it a moment
	if r.stream != nil {
		r.observeStream(ctx, name)
		return
	}
	ready, err := r.queue.Depth(ctx)
	if err != nil {
		return
	}
	r.noteEvent(history.Event{Proc: "broker", Op: history.OpRequeue, From: name,
		Detail: fmt.Sprintf("connection of %s closed by the kernel; %d ready in the queue (unacked deliveries requeued, flagged redelivered)", name, ready)})
}

// cutDBLink cuts the worker's link to the database for the fault's duration: a COMMIT it meets
// never reaches the server. Pinned to the COMMIT (Point fault.SiteCommit), it meets the COMMIT in
// flight instead: the request reaches the server, and the link dies as the reply comes back.
func cutDBLink(_ context.Context, r *run, w *wproc, at worker.Gate, f *history.Fault) (bool, error) {
	proxy := w.name + proxyPostgres
	healed := "link " + proxy + " restored"
	if at.Kind == worker.GateCommit && f.Point == fault.SiteCommit {
		return false, r.cutOnWire(w, at, f, proxyPostgres, wire.PGCommit, worker.GateCommitDone, healed)
	}
	return false, r.cutFor(proxy, f, healed)
}

// cutBrokerLink cuts the worker's link to the broker for the fault's duration. At a publish, its
// confirm or an ack the link dies under that protocol event (brokerCutSite).
func cutBrokerLink(_ context.Context, r *run, w *wproc, at worker.Gate, f *history.Fault) (bool, error) {
	healed := "broker link of " + w.name + " restored"
	if kind, until, ok := brokerCutSite(at); ok {
		return false, r.cutOnWire(w, at, f, proxyAMQP, kind, until, healed)
	}
	return false, r.cutFor(w.name+proxyAMQP, f, healed)
}

// brokerCutSite is the protocol event a broker link cut fired at gate g meets, as on the
// simulator: a publish or an ack the client is writing goes into the dying link and is lost
// (Publish and Ack return nil); a confirm on its way back is lost with it. The client finds the
// connection closed at its next read. Without a wire event the cut falls between operations.
func brokerCutSite(g worker.Gate) (kind wire.Kind, until worker.GateKind, ok bool) {
	switch g.Kind {
	case worker.GatePublish:
		return wire.AMQPPublish, worker.GateConfirmDone, true
	case worker.GateConfirm:
		return wire.AMQPConfirm, worker.GateConfirmDone, true
	case worker.GateAck:
		return wire.AMQPAck, worker.GateAckDone, true
	}
	return "", "", false
}

// cutFor cuts a link and heals it after the fault's duration, noting healed then.
func (r *run) cutFor(proxy string, f *history.Fault, healed string) error {
	if err := r.proxies.cut(proxy); err != nil {
		return err
	}
	r.after(faultDuration(f), healed, func() { _ = r.proxies.heal(proxy) })
	return nil
}

// cutOnWire cuts the worker's link (the proxy with suffix) under the protocol event of kind that
// the operation at gate at sends or receives: the wire toxic drops the event and resets its
// connection, and the link goes down then; it heals the fault's duration after the gate. If the
// operation ends (at its gate until) without the event, the link goes down then.
func (r *run) cutOnWire(w *wproc, at worker.Gate, f *history.Fault, suffix string, kind wire.Kind, until worker.GateKind, healed string) error {
	c, err := r.armCut(w, at, f, suffix, kind, until)
	if err != nil {
		return err
	}
	r.after(faultDuration(f), healed, c.heal)
	return nil
}

// armCut arms the link cut of cutOnWire and returns it; the caller heals it.
func (r *run) armCut(w *wproc, at worker.Gate, f *history.Fault, suffix string, kind wire.Kind, until worker.GateKind) (*wireCut, error) {
	h := r.wires[w.name+suffix]
	if h == nil {
		return nil, fmt.Errorf("fault %s: no wire toxic on %s%s", f.Kind, w.name, suffix)
	}
	if kind == wire.PGCommit && r.slot != nil && w.name == "relay" {
		kind = wire.PGReady // the tailer's advance of the slot: autocommit, no COMMIT
	}
	c := &wireCut{proxies: r.proxies, proxy: w.name + suffix}
	h.arm(&wireArm{f: f, kind: kind, act: wire.DropReset, at: at.Kind, until: until, msg: at.Msg, fired: make(chan struct{}), cut: c})
	return c, nil
}

// wireCut is a link cut that starts when a protocol event meets it (or its operation ends), from
// the wire toxic's goroutine, and heals from the run's timer, whichever comes first: a heal that
// comes first leaves the link up.
type wireCut struct {
	proxies *proxies
	proxy   string

	mu           sync.Mutex
	down, healed bool
}

func (c *wireCut) start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down || c.healed {
		return
	}
	c.down = true
	_ = c.proxies.cut(c.proxy)
}

func (c *wireCut) heal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.healed = true
	if c.down {
		_ = c.proxies.heal(c.proxy)
	}
}

// brokerDown cuts every worker's link to the broker for the fault's duration. The link of the
// worker it fired at dies under that worker's protocol event, as for a cut (brokerCutSite).
func brokerDown(_ context.Context, r *run, w *wproc, at worker.Gate, f *history.Fault) (bool, error) {
	heal, err := r.cutBroker(w, at, f)
	if err != nil {
		return false, err
	}
	r.after(faultDuration(f), "broker back up", heal)
	return false, nil
}

// cutBroker takes every worker's broker link down now, except the link of the worker w a fault
// fired at when it fired at a protocol event: that one dies under the event (armCut). heal
// brings them all back.
func (r *run) cutBroker(w *wproc, at worker.Gate, f *history.Fault) (heal func(), err error) {
	var cut []string
	var own *wireCut
	for n := range r.mqURL {
		if kind, until, ok := brokerCutSite(at); ok && n == w.name {
			if own, err = r.armCut(w, at, f, proxyAMQP, kind, until); err != nil {
				return nil, err
			}
			continue
		}
		cut = append(cut, n+proxyAMQP)
	}
	sort.Strings(cut)
	for _, proxy := range cut {
		if err := r.proxies.cut(proxy); err != nil {
			return nil, err
		}
	}
	return func() {
		for _, proxy := range cut {
			_ = r.proxies.heal(proxy)
		}
		if own != nil {
			own.heal()
		}
	}, nil
}

// faultDuration is how long a fault that lasts a while lasts (at least a millisecond).
func faultDuration(f *history.Fault) time.Duration {
	return time.Duration(max(1, f.Duration)) * time.Millisecond
}

// slowLink turns the worker's link of the fault (db, broker, gateway) slow: a latency toxic on
// the downstream of the worker's proxy holds every reply longer than the client's timeout for
// that link (COMMIT, publisher confirm, gateway call), while requests still reach the server and
// take effect. The toxic comes off after the fault's duration, and never before the client of
// the operation that fired it has given up, as on the simulator, where that operation always
// times out. Taking it off lets what it held through at once, to clients that have stopped
// waiting.
func slowLink(_ context.Context, r *run, w *wproc, _ worker.Gate, f *history.Fault) (bool, error) {
	link := f.Link
	proxy, timeout := w.name+proxyPostgres, r.b.Timeouts.Commit
	switch link {
	case fault.LinkBroker:
		proxy, timeout = w.name+proxyAMQP, r.confirmTimeout() // as the worker waits (nats_run.go)
	case fault.LinkGateway:
		proxy, timeout = w.name+proxyGateway, r.b.Timeouts.GatewayTimeout() // as the worker does
	}
	slow := 2*timeout + 500*time.Millisecond
	toxic, err := r.proxies.poison(proxy, "latency", "downstream", map[string]int{"latency": int(slow.Milliseconds())})
	if err != nil {
		return false, err
	}
	d := max(faultDuration(f), timeout+latencyMargin)
	r.after(d, link+" link of "+w.name+" fast again", func() { _ = r.proxies.remove(proxy, toxic) })
	return false, nil
}

// latencyMargin is how long a latency toxic stays, at least, after the client's timeout.
const latencyMargin = 250 * time.Millisecond

// reorder answers the consumer's reorder gate with ReplyReorder: it hands this delivery back
// once the next one has arrived.
func reorder(_ context.Context, _ *run, w *wproc, _ worker.Gate, _ *history.Fault) (bool, error) {
	w.reorder = true
	return false, nil
}

// dropConnection drops the consumer's connection under the delivery it just received: the broker
// requeues what it holds while the consumer goes on with this delivery, so a copy is redelivered
// to a competing consumer.
func dropConnection(_ context.Context, r *run, w *wproc, _ worker.Gate, _ *history.Fault) (bool, error) {
	proxy := w.name + proxyAMQP
	if err := r.proxies.cut(proxy); err != nil {
		return false, err
	}
	return false, r.proxies.heal(proxy)
}

// holdCommit holds the producer's COMMIT, before it leaves, until an event of the other
// producer's commands has reached the broker (a "confirm-done" gate of its publisher naming it),
// at most the commit timeout: the change the first wrote earlier commits, and is published,
// later. The gate's reply waits (handle).
func holdCommit(_ context.Context, r *run, w *wproc, _ worker.Gate, _ *history.Fault) (bool, error) {
	other := fault.ProducerName(2)
	if w.name == other {
		other = fault.ProducerName(1)
	}
	r.holding, r.holdFor = w, map[string]bool{}
	r.unpark()
	for _, m := range r.share(other) {
		r.holdFor[m.ID] = true
	}
	r.after(r.b.Timeouts.Commit, "", r.releaseHold)
	return false, nil
}

// unpark lets the second producer start its first command (concurrent-producers).
func (r *run) unpark() {
	r.interleaved = true
	w := r.parked
	if w == nil {
		return
	}
	r.parked = nil
	if err := worker.WriteReply(w.stdin, worker.ReplyGo); err != nil && !w.dead && r.asyncErr == nil {
		r.asyncErr = fmt.Errorf("worker %s: %w", w.name, err)
	}
}

// releaseHold lets the COMMIT that holdCommit holds go.
func (r *run) releaseHold() {
	w := r.holding
	if w == nil {
		return
	}
	r.holding, r.holdFor = nil, nil
	if err := worker.WriteReply(w.stdin, worker.ReplyGo); err != nil && !w.dead && r.asyncErr == nil {
		r.asyncErr = fmt.Errorf("worker %s: %w", w.name, err)
	}
}

// share is the commands the named producer process runs (fault.ProducerCommands).
func (r *run) share(name string) []history.Message {
	n := fault.ProducersOf(r.sc.Fault)
	for i := 1; i <= n; i++ {
		if fault.ProducerName(i) == name {
			return fault.ProducerCommands(r.sc.Commands, i, n)
		}
	}
	return r.sc.Commands
}
