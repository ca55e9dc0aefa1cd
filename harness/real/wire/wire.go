package wire

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// ToxicType is the Toxiproxy toxic type this package registers (in init, via toxics.Register).
const ToxicType = "harness-wire"

// Proto is what a link speaks.
type Proto string

// The protocols a link can speak.
const (
	Postgres Proto = "postgres"
	AMQP     Proto = "amqp"
	Raw      Proto = "raw" // not parsed (e.g. HTTP to a mail gateway): only freezing applies
)

// Kind names a protocol event.
type Kind string

// The protocol events the toxic reports.
const (
	PGCommit    Kind = "pg.commit"    // downstream: CommandComplete with tag "COMMIT" and the ReadyForQuery after it (the event spans both messages)
	PGReady     Kind = "pg.ready"     // downstream: any other ReadyForQuery (a round trip ended), not the one that ends a PGCommit
	AMQPPublish Kind = "amqp.publish" // upstream: basic.publish method frame + its content header + body frames
	AMQPConfirm Kind = "amqp.confirm" // downstream: basic.ack from the broker (a publisher confirm)
	AMQPDeliver Kind = "amqp.deliver" // downstream: basic.deliver + its content header + body frames
	AMQPAck     Kind = "amqp.ack"     // upstream: basic.ack from the client (a consumer ack)
	AMQPNack    Kind = "amqp.nack"    // upstream: basic.nack or basic.reject from the client
	// AMQPChannelClose: channel.close from either side; the broker requeues what it delivered
	// on the channel that is not acknowledged.
	AMQPChannelClose Kind = "amqp.channel-close"
)

// Event is one protocol event seen on a link.
type Event struct {
	Kind        Kind
	Upstream    bool   // client -> server
	Conn        uint64 // the connection (link) it was seen on, unique per Watch id, in order of opening
	Epoch       uint64 // the hook's Epoch() when that connection opened
	Channel     uint16 // AMQP channel
	DeliveryTag uint64 // AMQP ack/confirm/deliver/nack
	Multiple    bool   // AMQP ack/confirm/nack
	Redelivered bool   // AMQP deliver
	MessageID   string // AMQP publish/deliver: the message-id property when set; NATS publish/deliver: the Nats-Msg-Id header
	Subject     string // NATS: the message's subject (a reply's: the reply subject it answers)
	Reply       string // NATS publish/deliver: the reply subject (a publish's PubAck comes back on it)
	Tag         string // PostgreSQL: the command tag ("COMMIT")
}

// Action is what happens to the bytes of an event and of what follows on its link direction.
type Action int

// The actions a Hook can take on an event.
const (
	Pass      Action = iota // forward it and go on
	Hold                    // forward the whole event, then forward nothing more in this direction on this connection (stall); the caller kills the process next
	Withhold                // forward nothing from the event's first byte on in this direction (stall): e.g. a COMMIT reply that never arrives
	Drop                    // remove exactly the event's bytes and go on forwarding what follows
	DropReset               // remove the event's bytes and close the connection at once (both directions, like reset_peer): e.g. an ack lost with its connection
	Defer                   // AMQPDeliver only: keep the event's bytes back and forward them right after the next AMQPDeliver on the same connection has passed (the next overtakes it); if the connection closes first they are dropped
)

var actionNames = [...]string{"pass", "hold", "withhold", "drop", "drop-reset", "defer"}

// String names the action, for logs and reports.
func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Hook decides what each event does. Decide is called synchronously on the proxy's goroutine,
// before the event's bytes are forwarded; it must not block long.
type Hook interface {
	Decide(Event) Action
	// Epoch is the hook's current epoch; a connection records it when it opens.
	Epoch() uint64
	// Frozen reports whether connections opened at epoch e forward nothing more (checked for
	// every chunk, both directions, before forwarding): the harness freezes a process's links
	// between a trigger and its SIGKILL, so that nothing the process sends or receives after the
	// trigger gets through.
	Frozen(e uint64) bool
}

// Closer is a Hook that is told when a direction of a connection ends: its input closed (the
// client or the server closed the connection, or the process died), or a DropReset closed it.
// Ended is called on the proxy's goroutine, once per direction, after the direction's last
// event; it must not block long.
type Closer interface {
	Ended(conn uint64, upstream bool)
}

// watch is one registered hook: its connection numbering and the halves of connections that
// are opening.
type watch struct {
	h       Hook
	stopped atomic.Bool

	mu      sync.Mutex
	conns   uint64
	pending map[opening]half
}

// opening identifies a connection that a proxy is opening: the proxy's accepting goroutine
// starts the upstream link and then the downstream link of a connection, one after the other.
type opening struct {
	proto Proto
	g     uint64
}

// half is the first link of a connection to open, waiting for its other direction.
type half struct {
	by    *Toxic
	conn  uint64
	epoch uint64
}

var registry struct {
	mu    sync.RWMutex
	n     uint64
	hooks map[string]*watch
}

// Watch registers h and returns its id, for the toxic's "hook" attribute, and a function that
// unregisters it. Once stopped, the toxics of that id pass everything (a direction already
// stalled stays stalled: its stream has a hole and cannot resume).
func Watch(h Hook) (id string, stop func()) {
	w := &watch{h: h, pending: map[opening]half{}}
	registry.mu.Lock()
	registry.n++
	id = fmt.Sprintf("wire-%d", registry.n)
	if registry.hooks == nil {
		registry.hooks = map[string]*watch{}
	}
	registry.hooks[id] = w
	registry.mu.Unlock()
	var once sync.Once
	return id, func() {
		once.Do(func() {
			w.stopped.Store(true)
			registry.mu.Lock()
			delete(registry.hooks, id)
			registry.mu.Unlock()
		})
	}
}

// Attributes returns the JSON toxic attributes for a hook id and protocol: {"hook": id, "proto": "postgres"}.
func Attributes(id string, p Proto) map[string]any {
	return map[string]any{"hook": id, "proto": string(p)}
}

func lookup(id string) *watch {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	return registry.hooks[id]
}

// open numbers a connection's link. A link opened by a proxy's accepting goroutine pairs with
// the other direction's link that the same goroutine opens next (with another toxic instance),
// so that both halves of a connection share their number and epoch.
func (w *watch) open(t *Toxic, key *opening) (conn, epoch uint64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if key != nil {
		if p, ok := w.pending[*key]; ok && p.by != t {
			delete(w.pending, *key)
			return p.conn, p.epoch
		}
	}
	w.conns++
	conn, epoch = w.conns, w.h.Epoch()
	if key != nil {
		w.pending[*key] = half{by: t, conn: conn, epoch: epoch}
	}
	return conn, epoch
}
