// Package history is the small event vocabulary every part of the harness shares: the scenario
// that was run, the events each process and the infrastructure produced, and the final reads of
// the database. It is plain data (porcupine's habit): a report renders it, a test builds one by
// hand, `simulate replay` reads it back. An event carries the message ids and processes it is
// about as fields; its Detail is prose that nothing parses. Fields added later are omitted when
// empty, so older histories still read. It imports nothing of the project.
package history

import (
	"fmt"
	"slices"
	"strings"
)

// Message is one business event: an order placed, an account credited, a price changed. Its ID is
// the message id the broker carries and the key an inbox de-duplicates on.
type Message struct {
	ID     string `json:"id"`             // event id = message id (order-1, txn-3, price-2)
	Key    string `json:"key"`            // business key: order id, account, product
	Amount int64  `json:"amount"`         // payment amount, credit amount or price
	Seq    int64  `json:"seq,omitempty"`  // per-key version, 1, 2, ... in commit order
	Kind   string `json:"kind,omitempty"` // OrderPlaced, AccountCredited, ProductPriceChanged, UserRegistered
}

// Fault is one entry of a fault schedule: plain data that a report prints and replay reads.
type Fault struct {
	Kind     string `json:"kind"`               // catalogue name: crash-producer, lost-ack, ...
	Target   string `json:"target,omitempty"`   // process: producer, relay, consumer-1; empty = everyone
	Point    string `json:"point,omitempty"`    // fault point, for crashes
	Nth      int    `json:"nth"`                // fires at the target's nth matching operation (1-based)
	Duration int    `json:"duration,omitempty"` // milliseconds (simulated ticks), for cuts and outages
	Link     string `json:"link,omitempty"`     // db, broker or gateway, for a slow link (latency)
}

// String renders a fault the way timelines and reports show it.
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(f.Kind)
	if f.Target != "" {
		fmt.Fprintf(&b, " on %s", f.Target)
	}
	if f.Point != "" {
		fmt.Fprintf(&b, " at %s", f.Point)
	}
	if f.Link != "" {
		fmt.Fprintf(&b, " (%s link)", f.Link)
	}
	fmt.Fprintf(&b, " #%d", f.Nth)
	if f.Duration > 0 {
		fmt.Fprintf(&b, " for %dms", f.Duration)
	}
	return b.String()
}

// Scenario is everything a run needs: the cell (strategies, workload, fault kind), the commands
// the clients send, the fault schedule, the topology and the seed of the interleaving.
type Scenario struct {
	Producer  string    `json:"producer"`
	Consumer  string    `json:"consumer"`
	Workload  string    `json:"workload"`
	Fault     string    `json:"fault"`
	Seed      uint64    `json:"seed"`
	Commands  []Message `json:"commands"`
	Faults    []Fault   `json:"faults"`
	Consumers int       `json:"consumers"` // competing consumer processes
	Prefetch  int       `json:"prefetch"`  // unacked deliveries per consumer
	Batch     int       `json:"batch"`     // rows a relay claims per pass
	// Broker is the broker the run publishes to (Brokers): "" is RabbitMQ, so that scenarios
	// written before there was a choice replay unchanged.
	Broker string `json:"broker,omitempty"`
}

// Brokers the harness runs against, by catalogue name (a contract with the CLI's --broker).
const (
	BrokerRabbitMQ = "rabbitmq" // the default: publisher confirms, requeue on channel close
	BrokerNATS     = "nats"     // NATS JetStream: Nats-Msg-Id duplicate window, explicit acks, redelivery after the ack wait
)

// Brokers lists the broker names in catalogue order, the default first.
func Brokers() []string { return []string{BrokerRabbitMQ, BrokerNATS} }

// BrokerOf is the scenario's broker by name, RabbitMQ when it names none.
func (s Scenario) BrokerOf() string {
	if s.Broker == "" {
		return BrokerRabbitMQ
	}
	return s.Broker
}

// Outcome is what the caller of an operation knows about it.
type Outcome string

// Outcomes. Unknown is the honest answer after an ambiguous commit or a publish whose confirm
// never came: the operation may or may not have taken effect.
const (
	OK      Outcome = "ok"
	Fail    Outcome = "fail"
	Unknown Outcome = "unknown"
	Info    Outcome = "" // something the infrastructure did, not a call
)

// Operation names used in events. Processes record the port calls they make; the infrastructure
// records what it did on its own (deliveries, requeues) and the harness records faults.
const (
	OpProduce  = "produce" // the client's command to the producer
	OpBegin    = "begin"
	OpInsert   = "insert" // the business row
	OpOutbox   = "outbox" // the outbox row
	OpClaim    = "claim"  // relay: FOR UPDATE SKIP LOCKED
	OpMark     = "mark"   // relay: mark published
	OpCommit   = "commit"
	OpRollback = "rollback"
	OpPublish  = "publish" // sent to the broker
	OpConfirm  = "confirm" // publisher confirm awaited
	OpEnqueue  = "enqueue" // the broker stored a message
	OpDeliver  = "deliver" // the broker handed a message to a consumer
	OpRequeue  = "requeue" // the broker put an unacked message back
	OpReceive  = "receive" // the consumer took a delivery
	OpAck      = "ack"
	OpNack     = "nack"
	OpCheck    = "check"   // inbox or processed-log lookup
	OpInbox    = "inbox"   // inbox insert under the unique key
	OpRecord   = "record"  // processed-log insert, no unique key
	OpApply    = "apply"   // the effect (payment, credit, price, email)
	OpSend     = "send"    // the mail gateway received an email (infrastructure)
	OpRead     = "read"    // relay: changes decoded from the replication slot, or outbox rows read after an id
	OpAdvance  = "advance" // log tailing: the slot's confirmed position moved
	OpPoint    = "point"   // a named fault point was passed
	OpFault    = "fault"   // a scheduled fault fired
	OpHeal     = "heal"    // a cut or outage ended
	OpCrash    = "crash"   // a process died
	OpRestart  = "restart" // a process came back
	OpQuiesce  = "quiesce" // the run reached quiescence
)

// Guard names a defence against duplicates that recognised a copy and turned it away, on the
// event where it did.
type Guard string

// Guards.
const (
	GuardInbox   Guard = "inbox"           // check: the consumer's inbox holds the message id
	GuardLog     Guard = "processed-log"   // check: the processed log holds the message id
	GuardKey     Guard = "idempotency-key" // send: the gateway dropped a repeat of an idempotency key
	GuardVersion Guard = "version"         // apply: a version not newer than the stored one, skipped
)

// Event is one line of a history. What a reader needs to follow a message (its ids, the processes
// it went between, the defence that stopped it) is in fields; Detail is prose for people, and
// nothing reads it back. The fields after Key are newer than the others: histories written before
// them read back with them empty.
type Event struct {
	Time    int64   `json:"t"`    // simulated milliseconds (sim) or since start (real)
	Proc    string  `json:"proc"` // producer, relay, consumer-1, broker, db, harness
	Op      string  `json:"op"`
	Outcome Outcome `json:"outcome,omitempty"` // empty for infrastructure events
	Msg     string  `json:"msg,omitempty"`     // message id involved
	Key     string  `json:"key,omitempty"`     // business key involved
	// Msgs are the message ids a commit, rollback or mark of several messages is about, in the
	// order the transaction touched them; Msg is empty then.
	Msgs []string `json:"msgs,omitempty"`
	// From is the process a message came from: the publisher of an enqueue, the consumer a
	// requeued delivery was taken back from, the caller of a gateway send.
	From string `json:"from,omitempty"`
	// To is the process a message went to: the consumer of a delivery.
	To          string `json:"to,omitempty"`
	Redelivered bool   `json:"redelivered,omitempty"` // a delivery or receive flagged redelivered
	Guard       Guard  `json:"guard,omitempty"`       // the defence that turned the message away here
	Detail      string `json:"detail,omitempty"`
}

// Names reports whether e is about message id: its Msg or one of its Msgs.
func (e Event) Names(id string) bool {
	return e.Msg == id || slices.Contains(e.Msgs, id)
}

// Subjects are the message ids e is about: its Msg, else its Msgs.
func (e Event) Subjects() []string {
	if e.Msg != "" {
		return []string{e.Msg}
	}
	return e.Msgs
}

// String renders an event as one readable line without its time.
func (e Event) String() string {
	var b strings.Builder
	b.WriteString(e.Proc)
	b.WriteByte(' ')
	b.WriteString(e.Op)
	if e.Msg != "" {
		b.WriteByte(' ')
		b.WriteString(e.Msg)
	}
	if e.Outcome != Info {
		fmt.Fprintf(&b, " -> %s", e.Outcome)
	}
	if e.Detail != "" {
		fmt.Fprintf(&b, " (%s)", e.Detail)
	}
	return b.String()
}

// Final is what the harness reads from the database after healing and quiescence: the ground
// truth the invariants judge.
type Final struct {
	Committed []Message   `json:"committed"` // business rows the producer committed
	Effects   []Effect    `json:"effects"`   // every effect row the consumers committed
	Values    []Value     `json:"values"`    // balances (credits) or prices (prices), by key
	Outbox    []OutboxRow `json:"outbox,omitempty"`
	Ready     int         `json:"ready"`   // messages still ready in the broker
	Unacked   int         `json:"unacked"` // messages still unacknowledged
	// The chain workload's downstream: Emitted are the middle service's committed outbox rows,
	// every row (a re-emitted duplicate's included), in id order: Msg is the downstream message's
	// id, Key the upstream message it follows from, Amount its content. Shipped are the rows the
	// downstream service recorded, one per downstream message it applied.
	Emitted []Effect `json:"emitted,omitempty"`
	Shipped []Effect `json:"shipped,omitempty"`
}

// Effect is one committed effect row: a payment, a ledger entry, a price written; for emails,
// one email the gateway accepted (an effect outside the database, never rolled back).
type Effect struct {
	Msg    string `json:"msg"`
	Key    string `json:"key"`
	Amount int64  `json:"amount"`
}

// Value is one key's final state: an account's balance or a product's price.
type Value struct {
	Key   string `json:"key"`
	Value int64  `json:"value"`
}

// OutboxRow is one row of the outbox table as the final read sees it.
type OutboxRow struct {
	ID        int64  `json:"id"`
	Msg       string `json:"msg"`
	Published bool   `json:"published"`
}

// History is one run: what was run, what happened, and the final reads.
type History struct {
	Backend  string   `json:"backend"`
	Run      string   `json:"run,omitempty"` // the real backend's run id: its schema, queue and slot are named after it
	Scenario Scenario `json:"scenario"`
	Events   []Event  `json:"events"`
	Final    Final    `json:"final"`
	Quiesced bool     `json:"quiesced"` // false when the run hit its bound before settling
	// Reached are the fault points the run's processes passed, each once, sorted by role and
	// point: what a cell's coverage is made of. Histories written before it read back without it.
	Reached []Reach `json:"reached,omitempty"`
}

// The roles of a run's processes, as coverage counts them: every consumer process (consumer-1,
// consumer-2, ...) is the consumer role.
const (
	RoleProducer = "producer"
	RoleRelay    = "relay"
	RoleConsumer = "consumer"
)

// RoleOf is the role of a process: producer (for producer, producer-2, ...), relay or consumer
// (for consumer-1, consumer-2, ...); any other name is its own role.
func RoleOf(proc string) string {
	switch {
	case strings.HasPrefix(proc, RoleConsumer+"-"):
		return RoleConsumer
	case strings.HasPrefix(proc, RoleProducer+"-"):
		return RoleProducer
	}
	return proc
}

// Reach is a fault point that a process of a role passed in a run, and how many times.
type Reach struct {
	Role  string `json:"role"`
	Point string `json:"point"`
	// Passes is how many times the role's processes passed the point in the run (at least 1);
	// 0 in a history written before passes were counted.
	Passes int `json:"passes,omitempty"`
}

// About returns the events that mention message id msg, in order: the evidence for a violation.
func (h *History) About(msg string) []Event {
	var out []Event
	for _, e := range h.Events {
		if e.Msg == msg {
			out = append(out, e)
		}
	}
	return out
}

// Faults returns the events where a scheduled fault fired or healed.
func (h *History) Faults() []Event {
	var out []Event
	for _, e := range h.Events {
		switch e.Op {
		case OpFault, OpHeal, OpCrash, OpRestart:
			out = append(out, e)
		}
	}
	return out
}
