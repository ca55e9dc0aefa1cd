package real

// The catalogue's own strategies under the faults that act on one protocol event. The schedule
// counts at the worker protocol's gates, as for every fault (so "#3" is the same operation as on
// the simulator); the mechanism arms the harness-wire toxic on the worker's link, so that only
// the protocol event of the operation the fault fired at is affected: the reply to its COMMIT,
// the confirm of its publish, its ack. Everything else the link carries meanwhile passes.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/wire"
	"github.com/deliveryharness/harness/harness/real/worker"
)

// wireGrace is how long, at most, the parent waits at an operation's "-done" gate for a request
// of the client's (an ack) to reach the wire toxic: the client does not wait for the broker, so
// its "-done" gate may reach the parent before its frame reaches the proxy. It is spent only
// when the request was never sent.
const wireGrace = 250 * time.Millisecond

// wireHook watches one link of a catalogue run's worker (wire.Hook): it passes every protocol
// event except the one that an armed fault waits for.
type wireHook struct {
	r     *run
	proc  string // the worker
	proxy string // its proxy: the worker's name and proxyPostgres or proxyAMQP

	nats      bool // the link speaks NATS: arms name AMQP's events, the hook waits for NATS's (nats_wire.go)
	mu        sync.Mutex
	armed     *wireArm
	publishes map[wireChannel]uint64 // basic.publish frames seen per channel: the last delivery tag
}

// wireChannel is an AMQP channel of one connection of a link.
type wireChannel struct {
	conn    uint64
	channel uint16
}

// wireArm is a fault armed on a link: the protocol event it waits for, what it does to it, and
// the gates between which its operation runs.
type wireArm struct {
	f         *history.Fault
	kind      wire.Kind
	act       wire.Action
	at, until worker.GateKind // armed at a gate of kind at; the operation is over at the next of kind until
	msg       string          // the operation's message, when its gates name one (a publish)

	// A lost confirm waits for the publish of msg first, then for the confirm that answers it:
	// the delivery tag that publish got on its channel.
	publish *wireChannel
	tag     uint64
	inbox   string // on NATS: the reply subject of that publish, where its PubAck comes

	fired chan struct{} // closed when the event came

	// cut, for a link fault: the link goes down when the event comes (or the operation ends).
	cut *wireCut
}

func newWireHook(r *run, proc, proxy string) *wireHook {
	return &wireHook{r: r, proc: proc, proxy: proxy, publishes: map[wireChannel]uint64{}}
}

// Epoch implements wire.Hook: a catalogue run freezes no links (its crashes land at gates).
func (*wireHook) Epoch() uint64 { return 0 }

// Frozen implements wire.Hook.
func (*wireHook) Frozen(uint64) bool { return false }

// Decide implements wire.Hook: the armed fault's action for the event it waits for, once; Pass
// for every other event.
func (h *wireHook) Decide(ev wire.Event) wire.Action {
	h.mu.Lock()
	ch := wireChannel{ev.Conn, ev.Channel}
	switch ev.Kind {
	case wire.AMQPPublish:
		h.publishes[ch]++
	case wire.AMQPChannelClose:
		delete(h.publishes, ch) // a channel opened again with its number numbers from 1
	}
	a := h.armed
	if a == nil || a.hasFired() || !a.takes(ev, h.publishes[ch]) {
		h.mu.Unlock()
		h.r.held.see(h.conn(ev.Conn), ev, wire.Pass)
		return wire.Pass
	}
	close(a.fired)
	h.mu.Unlock()
	h.r.held.see(h.conn(ev.Conn), ev, a.act)
	h.r.noteEvent(wireEvent(h.proc, a, ev))
	if a.cut != nil {
		go a.cut.start() // once this event's connection is reset
	}
	return a.act
}

// conn names connection n of the hook's link, for the run's held.
func (h *wireHook) conn(n uint64) heldConn {
	link := "db"
	if strings.HasSuffix(h.proxy, proxyAMQP) {
		link = "broker"
	}
	return heldConn{h.proc, link, n}
}

// Ended implements wire.Closer.
func (h *wireHook) Ended(conn uint64, _ bool) { h.r.held.end(h.conn(conn)) }

// takes reports whether ev is the event a waits for. A lost confirm's is the confirm of the first
// publish of its message after it was armed (tag: the publishes seen on ev's channel so far): a
// confirm of the same tag, or a multiple one that covers it. The caller holds the hook's lock.
func (a *wireArm) takes(ev wire.Event, tag uint64) bool {
	if a.kind == wire.NATSReply {
		return a.takesPubAck(ev)
	}
	if a.kind != wire.AMQPConfirm {
		return ev.Kind == a.kind
	}
	switch {
	case ev.Kind == wire.AMQPPublish && a.publish == nil && (a.msg == "" || ev.MessageID == a.msg):
		a.publish, a.tag = &wireChannel{ev.Conn, ev.Channel}, tag
	case ev.Kind == wire.AMQPConfirm && a.publish != nil && *a.publish == (wireChannel{ev.Conn, ev.Channel}):
		return ev.DeliveryTag == a.tag || ev.Multiple && ev.DeliveryTag >= a.tag
	}
	return false
}

func (a *wireArm) hasFired() bool {
	select {
	case <-a.fired:
		return true
	default:
		return false
	}
}

// endsAt reports whether the operation a was armed for is over at gate g: its "-done" gate, or
// the gate of the next attempt at the same operation (a publish that failed before it reached
// the wire has no "-done" gate; its retry must not be hit). Gates that name a message must name
// a's.
func (a *wireArm) endsAt(g worker.Gate) bool {
	return (g.Kind == a.until || g.Kind == a.at) && (a.msg == "" || g.Msg == a.msg)
}

// arm arms a on the link, in place of what was armed before.
func (h *wireHook) arm(a *wireArm) {
	if h.nats {
		a.kind = natsKind(a.kind)
	}
	h.mu.Lock()
	h.armed = a
	h.mu.Unlock()
}

// current is what is armed on the link, nil when nothing.
func (h *wireHook) current() *wireArm {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.armed
}

// disarm takes a off the link, if it is still what is armed.
func (h *wireHook) disarm(a *wireArm) {
	h.mu.Lock()
	if h.armed == a {
		h.armed = nil
	}
	h.mu.Unlock()
}

// wireEvent is the timeline's event for the protocol event a fault acted on. It is the harness's
// (the worker records its own operation and the outcome it saw), with the outcome the client is
// left with.
func wireEvent(proc string, a *wireArm, ev wire.Event) history.Event {
	if e, ok := natsWireEvent(proc, a, ev); ok {
		return e
	}
	e := history.Event{Proc: "harness", Outcome: history.Unknown, Msg: a.msg}
	if a.cut != nil {
		e.Op = map[wire.Kind]string{wire.PGCommit: history.OpCommit, wire.PGReady: history.OpAdvance, wire.AMQPPublish: history.OpPublish,
			wire.AMQPConfirm: history.OpConfirm, wire.AMQPAck: history.OpAck}[ev.Kind]
		switch ev.Kind {
		case wire.AMQPPublish, wire.AMQPAck:
			e.Detail = fmt.Sprintf("%s from %s written into a link that died under it: lost, and the client saw no error", ev.Kind, proc)
		default:
			e.Detail = fmt.Sprintf("%s reply to %s lost with its link: the server took the request, the connection died before the reply", ev.Kind, proc)
		}
		return e
	}
	switch ev.Kind {
	case wire.PGCommit:
		e.Op, e.Detail = history.OpCommit, "COMMIT reply to "+proc+" withheld on the wire: it never reaches the client"
	case wire.PGReady:
		e.Op, e.Detail = history.OpAdvance, "reply to "+proc+"'s slot advance withheld on the wire: it never reaches the client"
	case wire.AMQPConfirm:
		e.Op, e.Detail = history.OpConfirm, fmt.Sprintf("basic.ack (confirm) tag %d to %s dropped on the wire", ev.DeliveryTag, proc)
		if ev.Multiple {
			e.Detail += " (multiple: the confirms it carried for earlier tags with it)"
		}
	case wire.AMQPAck:
		e.Op, e.Detail = history.OpAck, fmt.Sprintf("basic.ack tag %d from %s dropped on the wire, and the connection reset", ev.DeliveryTag, proc)
	default:
		e.Op, e.Detail = string(ev.Kind), fmt.Sprintf("%s on the wire: %s", ev.Kind, a.act)
	}
	return e
}

// onWire is the mechanism of a fault that acts on one protocol event of the operation it fires
// at: it arms the wire toxic on the worker's link (the proxy with suffix) to do act to the next
// event of kind, which the operation sends or receives; the operation is over at the worker's
// next gate of kind until.
func onWire(suffix string, kind wire.Kind, act wire.Action, until worker.GateKind) mechanism {
	return func(_ context.Context, r *run, w *wproc, at worker.Gate, f *history.Fault) (bool, error) {
		h := r.wires[w.name+suffix]
		if h == nil {
			return false, fmt.Errorf("fault %s: no wire toxic on %s%s", f.Kind, w.name, suffix)
		}
		k := kind
		if k == wire.PGCommit && r.slot != nil && w.name == "relay" {
			// The log tailer's operation at a commit gate is its slot advance: a statement in
			// autocommit, whose reply ends with a ReadyForQuery and no COMMIT.
			k = wire.PGReady
		}
		h.arm(&wireArm{f: f, kind: k, act: act, at: at.Kind, until: until, msg: at.Msg, fired: make(chan struct{})})
		return false, nil
	}
}

// watchCatalogue starts the proxy of worker name to a server (suffix, the server's URL, the
// protocol it speaks) with the wire toxic on both streams and a wireHook deciding, and returns
// the URL that goes through it.
func (r *run) watchCatalogue(name, suffix, rawURL string, proto wire.Proto) (string, error) {
	h := newWireHook(r, name, name+suffix)
	h.nats = proto == wire.NATS
	proxied, err := r.watchProxy(name+suffix, rawURL, h, proto)
	if err != nil {
		return "", err
	}
	r.wires[name+suffix] = h
	return proxied, nil
}

// settleWire ends, at a worker's gate, the faults armed on its links whose operation is over.
// An event that has not come by then will not come for that operation (it failed before it sent
// or got it): the arm goes, so that it cannot act on a later operation. A connection whose reply
// was withheld stays stalled, as a client whose reply never comes finds it; cutting the link and
// bringing it back closes it, so that the client's next operation opens a new one.
func (r *run) settleWire(w *wproc, g worker.Gate) error {
	for _, suffix := range []string{proxyPostgres, proxyAMQP} {
		h := r.wires[w.name+suffix]
		if h == nil {
			continue
		}
		a := h.current()
		if a == nil || !a.endsAt(g) {
			continue
		}
		if g.Kind == a.until && isRequest(a.kind) {
			select {
			case <-a.fired:
			case <-time.After(wireGrace):
			}
		}
		h.disarm(a)
		if a.cut != nil && !a.hasFired() {
			a.cut.start() // the operation ended without the event: the link dies now
		}
		if a.act == wire.Withhold && a.hasFired() {
			if err := r.proxies.cut(h.proxy); err != nil {
				return err
			}
			if err := r.proxies.heal(h.proxy); err != nil {
				return err
			}
		}
	}
	return nil
}

// isRequest reports whether events of kind k go from the client to the server.
func isRequest(k wire.Kind) bool {
	return k == wire.AMQPPublish || k == wire.AMQPAck || k == wire.AMQPNack ||
		k == wire.NATSPublish || k == wire.NATSAck || k == wire.NATSNack
}
