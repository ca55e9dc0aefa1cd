package worker

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/deliveryharness/harness/harness/history"
)

// Env marks a process as a worker: its value is the worker's Config as JSON.
const Env = "HARNESS_WORKER"

// Role is the component a worker process runs.
type Role string

// Roles.
const (
	RoleProducer Role = "producer"
	RoleRelay    Role = "relay"
	RoleConsumer Role = "consumer"
)

// Config is what a worker process needs: which component it is and where its servers are (its
// own Toxiproxy proxies).
type Config struct {
	Role     Role              `json:"role"`
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
	// Broker is the scenario's broker (history.BrokerNATS, or empty for RabbitMQ). On NATS the
	// worker talks to NATS (its proxy) in place of AMQP: it publishes to Subject, and consumes
	// from the durable consumer Durable of Stream.
	Broker  string `json:"broker,omitempty"`
	NATS    string `json:"nats,omitempty"`
	Stream  string `json:"stream,omitempty"`
	Subject string `json:"subject,omitempty"`
	Durable string `json:"durable,omitempty"`
	// Service names a team's registered service (service mode): the worker runs its code for
	// the role instead of a strategy's.
	Service   string         `json:"service,omitempty"`
	QueueArgs map[string]any `json:"queue_args,omitempty"` // the run queue's declare arguments, for a service
	// CatchUp: the consumer is the new subscriber's first (new-subscriber) and replays the
	// outbox's committed rows before its live deliveries (fault.CatchUp).
	CatchUp bool `json:"catch_up,omitempty"`
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

// GatewayTimeout is the wait for the mail gateway's reply: t.Gateway, or the default when unset.
func (t Timeouts) GatewayTimeout() time.Duration {
	if t.Gateway <= 0 {
		return DefaultTimeouts().Gateway
	}
	return t.Gateway
}

// GateKind names the operation at which a worker waits for the parent.
type GateKind string

// The gates. Each "-done" gate follows the operation its name says, so that the parent can take
// off what it put on the link for that operation.
const (
	GatePoint       GateKind = "point"        // a fault point of the strategy (Gate.Point names it)
	GateProduce     GateKind = "produce"      // before the producer's next command (Gate.Msg)
	GateDB          GateKind = "db"           // before a BEGIN, or a read of the replication slot
	GateCommit      GateKind = "commit"       // before a COMMIT, or an advance of the replication slot
	GateCommitDone  GateKind = "commit-done"  // after it
	GatePublish     GateKind = "publish"      // before a publish (Gate.Msg)
	GateConfirm     GateKind = "confirm"      // right after "publish", before the publish goes out: its confirm's way back (Gate.Msg)
	GateConfirmDone GateKind = "confirm-done" // after the wait for its confirm (Gate.Msg)
	GateBroker      GateKind = "broker"       // before any other broker call: Next, Nack (Gate.Point names its protocol site)
	GateReceive     GateKind = "receive"      // after Next returned a delivery (Gate.Msg)
	GateReorder     GateKind = "reorder"      // after "receive": the parent answers ReplyReorder to hand the delivery back
	GateAck         GateKind = "ack"          // before an ack
	GateAckDone     GateKind = "ack-done"     // after it
	GateGateway     GateKind = "gateway"      // before a call to the mail gateway (Gate.Msg)
)

// Polls reports whether a worker passes the gate while it only polls for work (a relay's read,
// a consumer's wait for a delivery): such a gate does not show that the run is busy.
func (k GateKind) Polls() bool { return k == GateBroker || k == GateDB }

// Gate is a point where a worker waits for the parent.
type Gate struct {
	Kind  GateKind `json:"kind"`
	Point string   `json:"point,omitempty"` // the fault point, for GatePoint; the protocol site, for GateBroker
	Msg   string   `json:"msg,omitempty"`
}

// Message is one line a worker writes: exactly one of its fields is set.
type Message struct {
	Event *history.Event `json:"event,omitempty"`
	Gate  *Gate          `json:"gate,omitempty"`
	Idle  bool           `json:"idle,omitempty"` // a consumer or relay found nothing to do
	Done  bool           `json:"done,omitempty"` // the producer finished its commands
}

// Reply is the parent's answer at a gate.
type Reply string

// Replies.
const (
	ReplyGo      Reply = "go"      // carry on
	ReplyReorder Reply = "reorder" // at a GateReorder: hand this delivery back once the next one has arrived
)

// ErrParentGone: the parent closed the worker's stdin or answered something that is not a reply.
var ErrParentGone = errors.New("worker: the parent is gone")

// Link is a worker's end of the protocol: messages out, replies in.
type Link struct {
	in  *bufio.Reader
	mu  sync.Mutex
	out *json.Encoder
}

// NewLink returns the link over in (the parent's replies) and out (the worker's messages).
func NewLink(in io.Reader, out io.Writer) *Link {
	return &Link{in: bufio.NewReader(in), out: json.NewEncoder(out)}
}

// Send writes m. A write that fails is dropped: the parent is gone, and the next Ask says so.
func (l *Link) Send(m Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.out.Encode(m)
}

// Ask writes the gate and waits for the parent's reply.
func (l *Link) Ask(g Gate) (Reply, error) {
	l.Send(Message{Gate: &g})
	line, err := l.in.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrParentGone, err)
	}
	switch r := Reply(strings.TrimSuffix(line, "\n")); r {
	case ReplyGo, ReplyReorder:
		return r, nil
	}
	return "", fmt.Errorf("%w: it answered %q", ErrParentGone, line)
}

// Wait blocks until the parent writes a line or closes the link: a worker with nothing left to
// do stays until the parent ends the run, so that its exit is the parent's decision.
func (l *Link) Wait() { _, _ = l.in.ReadString('\n') }

// Decode reads one line of a worker's output.
func Decode(line []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, fmt.Errorf("worker: bad message %q: %w", line, err)
	}
	return m, nil
}

// WriteReply writes the parent's reply r to a worker's stdin.
func WriteReply(w io.Writer, r Reply) error {
	_, err := io.WriteString(w, string(r)+"\n")
	return err
}
