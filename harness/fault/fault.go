// Package fault is the catalogue of fault kinds, each declared once (one row of kinds): its name
// (a contract with the CLI and the reports) and short name, what it does to the infrastructure,
// the operation of its target it watches (Op), the processes it can hit (TargetSet), its topology
// needs and how far the generator draws it (Bound). It also owns the schedule both backends play
// (Schedule: "#3" is the third watched operation on either) and the reorder fault's wrapper.
//
// A fault is plain data (history.Fault). Each backend says where the operations happen (the
// simulator's port calls, the real workers' gates) and maps each kind to its mechanism in one
// table; both ask this package which kinds watch an operation. A fault changes what the
// infrastructure does; it never tells a strategy or a checker what the outcome should be.
//
// It imports only the history vocabulary and the strategy ports (the reordering wrapper); it must
// not import harness, a backend, invariants, scenarios or reports.
package fault

import (
	"fmt"
	"strings"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// Catalogue names.
const (
	None                = "none"
	CrashProducer       = "crash-producer"
	CrashRelay          = "crash-relay"
	CrashConsumer       = "crash-consumer"
	AmbiguousCommit     = "ambiguous-commit"
	LostAck             = "lost-ack"
	LostConfirm         = "lost-confirm"
	PartitionBroker     = "partition-broker"
	PartitionDB         = "partition-db"
	BrokerDown          = "broker-down"
	BrokerRestart       = "broker-restart"
	ConcurrentProducers = "concurrent-producers"
	ConcurrentConsumers = "concurrent-consumers"
	Latency             = "latency"
	Reorder             = "reorder"
	LateRedelivery      = "late-redelivery"
	NewSubscriber       = "new-subscriber"
)

// Links a slow-link fault (latency) can hit.
const (
	LinkDB      = "db"
	LinkBroker  = "broker"
	LinkGateway = "gateway"
)

// Kind is one fault kind, declared once: what it does, the operation of its target it watches
// (it counts them and fires at the Fault.Nth), the processes it can hit, and how far the
// generator draws it. Each backend maps the kind to its mechanism in one table (the simulator's
// mechanisms in harness/sim/faults.go, the real servers' in harness/real/mechanisms.go).
type Kind struct {
	Name  string
	Short string // at most 8 columns: the matrix's header when the full names do not fit
	Doc   string
	// Watches is the operation of its target that the fault counts. OpPoint: the fault names one
	// of the target's fault points (Fault.Point); OpLink: one of its links (Fault.Link).
	Watches Op
	// Hits is the set of processes a fault of the kind can target (see Targets).
	Hits TargetSet
	// Bound is how far the generator draws a fault of the kind.
	Bound Bound
	// Consumers is the number of competing consumers the fault needs at least.
	Consumers int
	// Producers is the number of producer processes the fault needs (0: one). Each takes every
	// Producers-th command (ProducerCommands).
	Producers int
	// NeedsRelay: the fault only exists where the producer has a relay.
	NeedsRelay bool
	// Prefetch is the prefetch the fault needs at least (0: any).
	Prefetch int
	// Sites are the protocol sites (Sites) a fault of the kind may be pinned to with
	// Fault.Point, beside "" (any operation it watches), where pinning changes what it does: a
	// partition-db pinned to the COMMIT meets it in flight. The generator draws one.
	Sites []string
}

// AtPoint reports whether a fault of the kind names a fault point of its target (crashes).
func (k Kind) AtPoint() bool { return k.Watches == OpPoint }

// OnLink reports whether a fault of the kind names one of its target's links (Fault.Link).
func (k Kind) OnLink() bool { return k.Watches == OpLink }

// How far the generator draws a kind's faults.
var (
	perCommand  = Bound{Ops: 1, Per: 1}                    // crashes at a point, per-message operations: about one per command
	perLinkOp   = Bound{Ops: 3, Per: 1, Lasts: true}       // link operations: several per command; a cut or an outage heals
	perDelivery = Bound{Ops: 1, Per: 2, ExtraConsumers: 1} // consumer-1 gets about half of the deliveries; a second consumer may compete
	perRestart  = Bound{Ops: 3, Per: 1}                    // broker operations, as for an outage; a restart takes as long as it takes
)

var kinds = []Kind{
	{Name: None, Short: "none", Watches: OpNone, Bound: perCommand, Consumers: 1,
		Doc: "no fault: the baseline"},
	{Name: CrashProducer, Short: "crash-p", Watches: OpPoint, Hits: TargetProducer, Bound: perCommand, Consumers: 1,
		Doc: "the producer process dies at one of its fault points and restarts"},
	{Name: CrashRelay, Short: "crash-r", Watches: OpPoint, Hits: TargetRelay, Bound: perCommand, Consumers: 1, NeedsRelay: true,
		Doc: "the relay (outbox relay or log tailer) dies at one of its fault points and restarts"},
	{Name: CrashConsumer, Short: "crash-c", Watches: OpPoint, Hits: TargetConsumers, Bound: perCommand, Consumers: 1,
		Doc: "a consumer process dies at one of its fault points and restarts"},
	{Name: AmbiguousCommit, Short: "amb-cmt", Watches: OpCommit, Hits: TargetProducer | TargetRelay | TargetConsumers, Bound: perCommand, Consumers: 1,
		Doc: "a COMMIT reaches the database and commits; its reply never reaches the client"},
	{Name: LostAck, Short: "lost-ack", Watches: OpAck, Hits: TargetConsumers, Bound: perCommand, Consumers: 1,
		Doc: "a consumer's ack never reaches the broker and the connection resets (Ack returned nil)"},
	{Name: LostConfirm, Short: "lost-cnf", Watches: OpPublish, Hits: TargetPublisher, Bound: perCommand, Consumers: 1,
		Doc: "the broker enqueues a message; its publisher confirm never arrives, so the publisher retries"},
	{Name: PartitionBroker, Short: "part-brk", Watches: OpBroker, Hits: TargetPublisher | TargetConsumers, Bound: perLinkOp, Consumers: 1,
		Doc: "one process's link to the broker is cut for a while, then healed"},
	{Name: PartitionDB, Short: "part-db", Watches: OpDB, Hits: TargetProducer | TargetRelay | TargetConsumers, Bound: perLinkOp, Consumers: 1, Sites: []string{SiteCommit},
		Doc: "one process's link to the database is cut for a while, then healed; at a COMMIT, before its request leaves or (at pg.commit) with it in flight: the server commits and the reply is lost with the connection"},
	{Name: BrokerDown, Short: "brk-down", Watches: OpBroker, Hits: TargetEveryone, Bound: perLinkOp, Consumers: 1,
		Doc: "the broker is unreachable for everyone for a while, as when it restarts"},
	{Name: ConcurrentConsumers, Short: "conc-con", Watches: OpReceive, Hits: TargetFirstConsumer, Bound: perDelivery, Consumers: 2,
		Doc: "two or more competing consumers; one loses its connection mid-message, so a copy is redelivered while the first is still being processed"},
	{Name: Latency, Short: "latency", Watches: OpLink, Hits: TargetProducer | TargetRelay | TargetConsumers, Bound: perLinkOp, Consumers: 1,
		Doc: "one process's link (database, broker or mail gateway) turns slow for a while: replies come after the client's timeout, so it gives up on, or retries, what did happen"},
	{Name: Reorder, Short: "reorder", Watches: OpDelivery, Hits: TargetConsumers, Bound: perDelivery, Consumers: 1, Prefetch: 2,
		Doc: "a consumer hands a delivery back (nack, requeue) once the next one has arrived, so the next overtakes it (one or two consumers)"},
	{Name: BrokerRestart, Short: "brk-rst", Watches: OpBroker, Hits: TargetEveryone, Bound: perRestart, Consumers: 1,
		Doc: "the broker restarts (on real servers a RabbitMQ node of the run's own: stop_app, start_app): every connection closes, unacknowledged deliveries return to the queue, a publish or confirm in flight is lost with its connection, durable messages survive, and no one reaches the broker until it is back, longer than every client's retries"},
	{Name: ConcurrentProducers, Short: "conc-prd", Watches: OpCommit, Hits: TargetProducer, Bound: perCommand, Consumers: 1, Producers: 2,
		Doc: "two producer processes share the commands, every other one each; the first's transaction waits at its COMMIT until an event of the second's has reached the broker, and the second starts only then, so that the change the first wrote earlier (and its outbox row's lower id) commits and is published last"},
	{Name: LateRedelivery, Short: "late", Watches: OpPoint, Hits: TargetRelay | TargetConsumers, Bound: perCommand, Consumers: 1,
		Doc: "a copy held back past every dedup window: the relay or a consumer dies at one of its fault points, as crash-relay and crash-consumer, and comes back only " + LateBy.String() + " later (LateBy; a dedup window, strategies.Window, keeps an id " + strategies.Window.String() + "), so that the relay's republish, or the broker's redelivery of what the consumer had not acknowledged, arrives after the first copy's window; on the simulator logical time jumps, on real servers the restart waits"},
	{Name: NewSubscriber, Short: "new-sub", Watches: OpPublish, Hits: TargetPublisher, Bound: perCommand, Consumers: 1,
		Doc: "the consumers are a new service that subscribes mid-run (seed 001's catch-up): its queue is bound as the publisher's Nth publish goes out, so what was published before never reaches it (as if the broker's TTL had dropped it); its first consumer replays the outbox's committed rows, in id order, through the consumer strategy, then takes live deliveries, and the two overlap for the rows published after the binding (CatchUp)"},
}

// LateBy is how long late-redelivery keeps its target down: longer than strategies.Window, the
// catalogue's dedup windows, by 2 s. A consumer's record of the first copy is stored when the
// consumer handles it, which can be after the relay published it by a queue's wait, a client's
// 1 s COMMIT timeout on real servers and a worker's restart; the margin keeps the relay's late
// republish after that record's window too, so that the copy it holds back arrives after every
// window (a consumer's own late redelivery comes LateBy after its record, later still).
const LateBy = strategies.Window + 2*time.Second

// Kinds returns every fault kind in catalogue order.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// Names returns the fault names in catalogue order.
func Names() []string {
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k.Name
	}
	return out
}

// Lookup finds a fault kind by name.
func Lookup(name string) (Kind, error) {
	for _, k := range kinds {
		if k.Name == name {
			return k, nil
		}
	}
	return Kind{}, fmt.Errorf("unknown fault %q (known: %s)", name, strings.Join(Names(), ", "))
}

// ProducerName names the i-th producer process (1-based): "producer", then "producer-2".
func ProducerName(i int) string {
	if i <= 1 {
		return "producer"
	}
	return fmt.Sprintf("producer-%d", i)
}

// ProducerCommands is the share of the commands that the i-th of n producer processes runs, in
// order: every n-th command, from the i-th.
func ProducerCommands(cmds []history.Message, i, n int) []history.Message {
	if n <= 1 {
		return cmds
	}
	var out []history.Message
	for j := i - 1; j < len(cmds); j += n {
		out = append(out, cmds[j])
	}
	return out
}

// ProducersOf is the number of producer processes a scenario under the named fault runs.
func ProducersOf(kind string) int {
	if k, err := Lookup(kind); err == nil && k.Producers > 1 {
		return k.Producers
	}
	return 1
}

// Topology is what the targets of a fault depend on.
type Topology struct {
	Relay     bool // the producer strategy has a relay process
	Consumers int  // competing consumer processes
	Gateway   bool // the consumers call the mail gateway (the emails workload)
}

// ConsumerName names the i-th consumer process (1-based).
func ConsumerName(i int) string { return fmt.Sprintf("consumer-%d", i) }

// Targets lists the processes a fault of this kind can hit in a topology, in a stable order. An
// empty string means everyone (broker-down). None and impossible combinations have no targets.
func (k Kind) Targets(t Topology) []string { return k.Hits.In(t) }

// Links lists the links of proc a slow-link fault can hit, in a stable order: the database for
// everyone, the broker for whoever publishes or consumes, the mail gateway for consumers that
// call it.
func Links(proc string, t Topology) []string {
	switch {
	case proc == "producer" && t.Relay:
		return []string{LinkDB}
	case proc == "producer", proc == "relay":
		return []string{LinkDB, LinkBroker}
	case strings.HasPrefix(proc, "consumer-") && t.Gateway:
		return []string{LinkDB, LinkBroker, LinkGateway}
	case strings.HasPrefix(proc, "consumer-"):
		return []string{LinkDB, LinkBroker}
	}
	return nil
}

// Possible reports whether the kind applies to a producer with or without a relay, with a reason.
func (k Kind) Possible(relay bool) error {
	if k.NeedsRelay && !relay {
		return fmt.Errorf("fault %s needs a producer with a relay (outbox, log-tailing)", k.Name)
	}
	return nil
}
