// Package fault is the catalogue of fault kinds: their names (a contract with the CLI and the
// reports), what each does to the infrastructure, and which processes each can hit. A fault is
// plain data (history.Fault); the backends give each kind its mechanism. A fault changes what the
// infrastructure does; it never tells a strategy or a checker what the outcome should be.
//
// It imports only the history vocabulary and the strategy ports (the reordering wrapper); it must
// not import harness, a backend, invariants, scenarios or reports.
package fault

import (
	"fmt"
	"strings"
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
	ConcurrentConsumers = "concurrent-consumers"
	Latency             = "latency"
	Reorder             = "reorder"
)

// Links a slow-link fault (latency) can hit.
const (
	LinkDB      = "db"
	LinkBroker  = "broker"
	LinkGateway = "gateway"
)

// Kind describes one fault kind.
type Kind struct {
	Name string
	Doc  string
	// Point: the fault names a fault point of the target's strategy (crashes).
	Point bool
	// Duration: the fault lasts a while and then heals (cuts and outages).
	Duration bool
	// Consumers is the number of competing consumers the fault needs at least.
	Consumers int
	// NeedsRelay: the fault only exists where the producer has a relay.
	NeedsRelay bool
	// Link: the fault names one of the target's links (Fault.Link).
	Link bool
	// Prefetch is the prefetch the fault needs at least (0: any).
	Prefetch int
}

var kinds = []Kind{
	{Name: None, Doc: "no fault: the baseline", Consumers: 1},
	{Name: CrashProducer, Doc: "the producer process dies at one of its fault points and restarts", Point: true, Consumers: 1},
	{Name: CrashRelay, Doc: "the relay (outbox relay or log tailer) dies at one of its fault points and restarts", Point: true, Consumers: 1, NeedsRelay: true},
	{Name: CrashConsumer, Doc: "a consumer process dies at one of its fault points and restarts", Point: true, Consumers: 1},
	{Name: AmbiguousCommit, Doc: "a COMMIT reaches the database and commits; its reply never reaches the client", Consumers: 1},
	{Name: LostAck, Doc: "a consumer's ack never reaches the broker and the connection resets (Ack returned nil)", Consumers: 1},
	{Name: LostConfirm, Doc: "the broker enqueues a message; its publisher confirm never arrives, so the publisher retries", Consumers: 1},
	{Name: PartitionBroker, Doc: "one process's link to the broker is cut for a while, then healed", Duration: true, Consumers: 1},
	{Name: PartitionDB, Doc: "one process's link to the database is cut for a while, then healed", Duration: true, Consumers: 1},
	{Name: BrokerDown, Doc: "the broker is unreachable for everyone for a while, as when it restarts", Duration: true, Consumers: 1},
	{Name: ConcurrentConsumers, Doc: "two or more competing consumers; one loses its connection mid-message, so a copy is redelivered while the first is still being processed", Consumers: 2},
	{Name: Latency, Doc: "one process's link (database, broker or mail gateway) turns slow for a while: replies come after the client's timeout, so it gives up on, or retries, what did happen", Duration: true, Consumers: 1, Link: true},
	{Name: Reorder, Doc: "a consumer hands a delivery back (nack, requeue) once the next one has arrived, so the next overtakes it (one or two consumers)", Consumers: 1, Prefetch: 2},
}

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

// Topology is what the targets of a fault depend on.
type Topology struct {
	Relay     bool // the producer strategy has a relay process
	Consumers int  // competing consumer processes
	Gateway   bool // the consumers call the mail gateway (the emails workload)
}

// ConsumerName names the i-th consumer process (1-based).
func ConsumerName(i int) string { return fmt.Sprintf("consumer-%d", i) }

// Targets lists the processes a fault of this kind can hit, in a stable order. An empty string
// means everyone (broker-down). None and impossible combinations have no targets.
func (k Kind) Targets(t Topology) []string {
	consumers := make([]string, 0, t.Consumers)
	for i := 1; i <= t.Consumers; i++ {
		consumers = append(consumers, ConsumerName(i))
	}
	publisher := "producer"
	if t.Relay {
		publisher = "relay"
	}
	writers := []string{"producer"}
	if t.Relay {
		writers = append(writers, "relay")
	}
	switch k.Name {
	case CrashProducer:
		return []string{"producer"}
	case CrashRelay:
		if !t.Relay {
			return nil
		}
		return []string{"relay"}
	case CrashConsumer, LostAck, Reorder:
		return consumers
	case Latency:
		return append(writers, consumers...)
	case AmbiguousCommit, PartitionDB:
		return append(writers, consumers...)
	case LostConfirm:
		return []string{publisher}
	case PartitionBroker:
		return append([]string{publisher}, consumers...)
	case BrokerDown:
		return []string{""}
	case ConcurrentConsumers:
		return consumers[:1]
	}
	return nil
}

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
