package real

// Service mode on the wire: each worker's links watched by a linkHook, the faults that fire at
// the protocol events it sees, and the timeline's events for them.

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/wire"
	"github.com/deliveryharness/harness/harness/real/worker"
	"github.com/deliveryharness/harness/service"
)

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
	case fault.CrashProducer, fault.CrashRelay, fault.CrashConsumer, fault.LateRedelivery:
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
	case fault.BrokerRestart:
		sr.act(func() { r.mechanismErr(brokerRestart(ctx, r, w, worker.Gate{}, f)) })
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
