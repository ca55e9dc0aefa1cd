package fault

import "fmt"

// Op is an operation of a process that faults watch: a fault counts its target's operations of
// the kind its Kind watches and fires at the Fault.Nth. Where each operation happens is the
// backend's business (the simulator's port calls, the real workers' gates); which kinds watch it
// is their declaration's (Kind.Watches), read by both through Watching and Schedule.
type Op uint8

// The operations faults watch.
const (
	OpNone     Op = iota // nothing: the none fault
	OpPoint              // a fault point the strategy passes (Fault.Point names it)
	OpCommit             // a COMMIT, or an advance of the replication slot: the reply tells the outcome
	OpDB                 // a round trip that opens or ends a transaction: BEGIN, COMMIT, a read or an advance of the slot
	OpPublish            // a publish
	OpAck                // an ack
	OpBroker             // any broker call: a publish, a confirm wait, Next, an ack, a nack
	OpReceive            // Next returned a delivery
	OpDelivery           // a delivery the consumer is about to handle (the reorder wrapper asks)
	OpLink               // an operation on one of the process's links (Fault.Link): a database round trip as OpDB counts it, a broker call, a call to the mail gateway
	numOps
)

var opNames = [numOps]string{"none", "point", "commit", "db", "publish", "ack", "broker", "receive", "delivery", "link"}

func (o Op) String() string {
	if o < numOps {
		return opNames[o]
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// watching[op] is the kinds that watch op, in catalogue order.
var watching = func() (w [numOps][]string) {
	for _, k := range kinds {
		if k.Watches != OpNone {
			w[k.Watches] = append(w[k.Watches], k.Name)
		}
	}
	return w
}()

// Watching lists the fault kinds that watch op, in catalogue order. A schedule counts one
// operation for all of them together: at most one fault fires per operation.
func Watching(op Op) []string {
	if op >= numOps {
		return nil
	}
	return watching[op]
}

// watches is the operation the named kind watches (OpNone for an unknown name).
func watches(kind string) Op {
	for _, k := range kinds {
		if k.Name == kind {
			return k.Watches
		}
	}
	return OpNone
}

// TargetSet is a set of a run's processes, as a kind's declaration names those it can hit.
type TargetSet uint8

// The processes a kind can hit. In lists they come in this order.
const (
	TargetEveryone      TargetSet = 1 << iota // every process at once: the one target ""
	TargetProducer                            // the producer
	TargetRelay                               // the relay, where the producer has one
	TargetPublisher                           // whoever publishes: the relay where there is one, else the producer
	TargetConsumers                           // every consumer
	TargetFirstConsumer                       // consumer-1
)

// In lists the processes of the set in a topology, in a stable order; nil when there are none.
func (s TargetSet) In(t Topology) []string {
	var out []string
	if s&TargetEveryone != 0 {
		out = append(out, "")
	}
	if s&TargetProducer != 0 {
		out = append(out, "producer")
	}
	if s&TargetRelay != 0 && t.Relay {
		out = append(out, "relay")
	}
	if s&TargetPublisher != 0 {
		if t.Relay {
			out = append(out, "relay")
		} else {
			out = append(out, "producer")
		}
	}
	if s&TargetConsumers != 0 {
		for i := 1; i <= t.Consumers; i++ {
			out = append(out, ConsumerName(i))
		}
	}
	if s&TargetFirstConsumer != 0 && t.Consumers >= 1 {
		out = append(out, ConsumerName(1))
	}
	return out
}

// Bound is how far the generator draws a fault of a kind.
type Bound struct {
	// Ops and Per: the fault waits for up to Ops operations of its target for every Per business
	// commands, rounded up (the draw of Fault.Nth).
	Ops, Per int
	// Lasts: the fault lasts a while and then heals; the generator draws Fault.Duration up to
	// its limit.
	Lasts bool
	// ExtraConsumers: the generator draws up to this many consumers beyond Kind.Consumers.
	ExtraConsumers int
}

// Nth is the largest Fault.Nth the generator draws in a scenario of the given commands.
func (b Bound) Nth(commands int) int {
	ops, per := max(1, b.Ops), max(1, b.Per)
	return (commands*ops + per - 1) / per
}

// The protocol sites of the operations a link fault (partition-db, partition-broker, broker-down)
// can fire at. Both backends pass the site of each broker and database operation as its point
// (Schedule.Fire), so that a fault with Fault.Point set to a site counts only the operations at
// that site ("the first ack"), and the mechanism knows which protocol event the cut meets: a
// request that is on the wire (a publish, an ack, a COMMIT) or a reply on its way (a confirm).
// They are named as service mode's protocol points (package service).
const (
	SitePublish = "amqp.publish" // a basic.publish: the request is written when the link dies
	SiteConfirm = "amqp.confirm" // the confirm of a publish, on its way back to the publisher
	SiteDeliver = "amqp.deliver" // a consumer's wait for its next delivery (Next)
	SiteAck     = "amqp.ack"     // a consumer's basic.ack
	SiteNack    = "amqp.nack"    // a consumer's basic.nack (hand back)
	SiteBegin   = "pg.begin"     // a BEGIN, or a read of the replication slot: a round trip that opens a transaction
	SiteCommit  = "pg.commit"    // a COMMIT, or an advance of the replication slot
)

// Sites lists the protocol sites, in the order a message meets them.
func Sites() []string {
	return []string{SiteBegin, SiteCommit, SitePublish, SiteConfirm, SiteDeliver, SiteAck, SiteNack}
}
