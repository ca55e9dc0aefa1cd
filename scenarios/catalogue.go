package scenarios

import (
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// The catalogue of expected outcomes. It is written from the strategies' mechanics, before any
// run: what each producer does to the stream of events under each fault (lose one, invent one,
// publish one twice), what each consumer does with that stream and with the faults that hit it
// (apply twice, lose, apply out of order), and which invariants each of those breaks by the
// effect kind of the cell's workload (package workload: append, add, set, external), never by its
// name. A cell's expectation is the union; every line carries its reason. The property tests and
// `simulate matrix` compare what the harness finds with it.
//
// Topology: one consumer process under every fault except concurrent-consumers (two or three);
// prefetch 1-3; one relay.

// anomaly is what a producer does to the stream of events.
type anomaly int

const (
	lostEvent    anomaly = iota // a committed event never reaches the broker
	phantomEvent                // an event reaches the broker for a transaction that never committed
	dupEvent                    // the same event reaches the broker twice (the copy is not flagged redelivered)
)

// effect is what reaches the consumer's database.
type effect int

const (
	dupEffect       effect = iota // an effect applied twice
	lostEffect                    // a committed event's effect never applied
	phantomEffect                 // an effect for a transaction that never committed
	staleEffect                   // an older set-state effect applied after a newer one
	overtakenEffect               // an older event skipped because a newer one of its key was applied first
)

type producerLine struct {
	what anomaly
	why  string
}

type consumerLine struct {
	what effect
	why  string
}

// dupInput is the trigger key for a producer-side duplicate reaching a consumer.
const dupInput = "duplicate-publish"

var producerTable = map[string]map[string][]producerLine{
	"double-write": {
		fault.CrashProducer:   {{lostEvent, "double-write dies between its commit and its publish: the committed event is never published"}},
		fault.AmbiguousCommit: {{lostEvent, "double-write takes an unanswered COMMIT for a failure and does not publish what did commit"}},
		fault.LostConfirm:     {{dupEvent, "double-write retries a publish whose confirm was lost: the broker holds two copies"}},
		fault.PartitionBroker: {
			{lostEvent, "double-write's publish retries run out while its link is cut: the committed event is dropped"},
			{dupEvent, "double-write loses a confirm with its link and publishes again after healing"},
		},
		fault.BrokerDown: {
			{lostEvent, "double-write's publish retries run out while the broker is down"},
			{dupEvent, "double-write loses a confirm when the broker goes down and publishes again"},
		},
		fault.Latency: {
			{lostEvent, "double-write's COMMIT reply comes after its timeout on a slow database link: it takes the commit for a failure and does not publish"},
			{dupEvent, "double-write's confirm comes after its timeout on a slow broker link: it publishes again"},
		},
	},
	"publish-first": {
		fault.CrashProducer: {{phantomEvent, "publish-first dies between its publish and its commit: an event for an order that does not exist"}},
		fault.LostConfirm:   {{dupEvent, "publish-first retries a publish whose confirm was lost"}},
		fault.PartitionBroker: {
			{dupEvent, "publish-first loses a confirm with its link and publishes again after healing"},
			{phantomEvent, "publish-first's first copy was queued, its confirm lost, the retries run out and it does not commit"},
		},
		fault.PartitionDB: {{phantomEvent, "publish-first published, then cannot reach the database to commit"}},
		fault.Latency: {
			{dupEvent, "publish-first's confirm comes after its timeout on a slow broker link: it publishes again"},
			{phantomEvent, "publish-first's first copy was queued, every retry timed out on the slow link, and it does not commit"},
		},
		fault.BrokerDown: {
			{dupEvent, "publish-first loses a confirm when the broker goes down and publishes again"},
			{phantomEvent, "publish-first's first copy was queued, the broker went down before the confirm, the retries run out and it does not commit"},
		},
	},
	"outbox": {
		fault.CrashRelay:      {{dupEvent, "the relay dies between publishing and marking: the rows are published again (seed 003)"}},
		fault.LostConfirm:     {{dupEvent, "the relay misses a confirm, rolls the mark back and publishes the batch again"}},
		fault.PartitionBroker: {{dupEvent, "the relay loses a confirm with its link, rolls back and publishes the batch again"}},
		fault.PartitionDB:     {{dupEvent, "the relay published, then cannot mark the rows: a later pass publishes them again"}},
		fault.BrokerDown:      {{dupEvent, "the relay loses confirms when the broker goes down and publishes the batch again"}},
		fault.Latency:         {{dupEvent, "the relay's confirms come after its timeout on a slow broker link: it rolls back and publishes the batch again"}},
	},
	"log-tailing": {
		fault.CrashRelay:      {{dupEvent, "the tailer dies between publishing and advancing the slot: the slot hands it the same changes again"}},
		fault.LostConfirm:     {{dupEvent, "the tailer misses a confirm, does not advance, and publishes the changes again"}},
		fault.PartitionBroker: {{dupEvent, "the tailer loses a confirm with its link and publishes the changes again"}},
		fault.PartitionDB:     {{dupEvent, "the tailer published, then cannot advance the slot: it reads and publishes the changes again"}},
		fault.BrokerDown:      {{dupEvent, "the tailer loses confirms when the broker goes down and publishes the changes again"}},
		fault.Latency:         {{dupEvent, "the tailer's confirms come after its timeout on a slow broker link: it publishes the changes again"}},
	},
}

var (
	reorderRequeue = "a delivery handed back with nack after its transaction failed returns behind one already prefetched, so an older price is written last"
	reorderCompete = "competing consumers apply two price changes of one product in either order"
	reorderFault   = "a delivery handed back with nack returns behind the next one, or a competing consumer takes it, so an older price is written last"
	overtaken      = "versioned skips an older credit that arrives after a newer one of the same account: right for set-state events, a lost credit for increments"
)

var consumerTable = map[string]map[string][]consumerLine{
	"naive": {
		dupInput:                  {{dupEffect, "naive applies every copy it receives"}},
		fault.CrashConsumer:       {{dupEffect, "naive dies after its commit and before its ack: the redelivery is applied again"}},
		fault.AmbiguousCommit:     {{dupEffect, "naive hands back a delivery whose COMMIT did take effect and applies it again"}, {staleEffect, reorderRequeue}},
		fault.LostAck:             {{dupEffect, "naive's ack is lost: the broker redelivers an applied message"}},
		fault.PartitionBroker:     {{dupEffect, "naive's ack cannot cross the cut link: the applied message is redelivered"}},
		fault.BrokerDown:          {{dupEffect, "naive's ack cannot reach the broker that is down: the applied message is redelivered"}},
		fault.PartitionDB:         {{staleEffect, reorderRequeue}},
		fault.ConcurrentConsumers: {{dupEffect, "naive: two consumers apply the two copies"}, {staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
		fault.Latency: {
			{dupEffect, "naive's COMMIT reply comes after its timeout on a slow database link: it hands back a delivery it applied and applies it again"},
			{staleEffect, reorderRequeue},
		},
	},
	"ack-first": {
		dupInput:                  {{dupEffect, "ack-first takes a producer-side copy for a new message and applies it"}},
		fault.CrashConsumer:       {{lostEffect, "ack-first dies after its ack and before its commit: the effect is lost"}},
		fault.LostAck:             {{dupEffect, "ack-first's Ack returned nil but never reached the broker: the message comes back and is applied again"}},
		fault.PartitionDB:         {{lostEffect, "ack-first acked, then its transaction cannot reach the database: the effect is lost"}},
		fault.ConcurrentConsumers: {{staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
	},
	"inbox": {
		fault.PartitionDB:         {{staleEffect, reorderRequeue}},
		fault.ConcurrentConsumers: {{staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
	},
	"inbox-racy": {
		fault.PartitionDB:         {{staleEffect, reorderRequeue}},
		fault.ConcurrentConsumers: {{dupEffect, "inbox-racy: two consumers both check before either records"}, {staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
	},
	"natural": {
		fault.AmbiguousCommit:     {{staleEffect, reorderRequeue}},
		fault.PartitionDB:         {{staleEffect, reorderRequeue}},
		fault.ConcurrentConsumers: {{staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
		fault.Latency:             {{staleEffect, reorderRequeue}},
	},
	"versioned": {
		fault.PartitionDB:         {{overtakenEffect, overtaken}},
		fault.ConcurrentConsumers: {{overtakenEffect, overtaken}},
		fault.Reorder:             {{overtakenEffect, overtaken}},
	},
	"idempotency-key": {
		fault.PartitionDB:         {{staleEffect, reorderRequeue}},
		fault.ConcurrentConsumers: {{staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
	},
	"redelivered-flag": {
		dupInput:                  {{dupEffect, "redelivered-flag: a producer-side copy is a new message to the broker and arrives unflagged (seed 002's claim is wrong)"}},
		fault.PartitionDB:         {{staleEffect, reorderRequeue}},
		fault.ConcurrentConsumers: {{dupEffect, "redelivered-flag: the flagged copy is checked before the first copy commits"}, {staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
	},
}

// externalTable holds what a consumer does when its effect lands outside the database (an
// external effect: the emails workload): the email is sent before the transaction that records it commits, and a
// rollback does not unsend it. natural and idempotency-key send with the event id as the
// gateway's idempotency key, so the gateway drops the repeat; they have no line here.
var externalTable = map[string]map[string][]consumerLine{}

func init() {
	for _, name := range []string{"naive", "inbox", "inbox-racy", "redelivered-flag", "versioned"} {
		externalTable[name] = map[string][]consumerLine{
			fault.CrashConsumer: {{dupEffect, name + " dies after the email went out and before its commit: the redelivery sends it again"}},
			fault.PartitionDB:   {{dupEffect, name + "'s commit cannot reach the database after the email went out: the rollback does not unsend it, and the redelivery sends it again"}},
			fault.Latency:       {{dupEffect, name + "'s gateway call times out on a slow link after the gateway sent the email: it rolls back, and the redelivery sends it again"}},
		}
	}
}

// breaks is what an effect breaks, by the effect kind of the cell's workload. A repeat breaks
// nothing where the effect sets a value (setting a price twice is harmless); a stale write only
// matters there; skipping an overtaken event is right for set-state events and a lost credit for
// increments.
var breaks = map[effect]map[workload.Effect][]invariants.Name{
	dupEffect: {
		workload.Append:   {invariants.NoDuplicateEffect},
		workload.Add:      {invariants.NoDuplicateEffect, invariants.Balance},
		workload.External: {invariants.NoDuplicateEffect},
	},
	lostEffect: {
		workload.Append:   {invariants.NoLostEffect},
		workload.Add:      {invariants.NoLostEffect, invariants.Balance},
		workload.Set:      {invariants.NoLostEffect, invariants.Converges},
		workload.External: {invariants.NoLostEffect},
	},
	phantomEffect: {
		workload.Append:   {invariants.NoPhantomEffect},
		workload.Add:      {invariants.NoPhantomEffect, invariants.Balance},
		workload.Set:      {invariants.NoPhantomEffect, invariants.Converges},
		workload.External: {invariants.NoPhantomEffect},
	},
	staleEffect: {
		workload.Set: {invariants.Converges},
	},
	overtakenEffect: {
		workload.Add: {invariants.NoLostEffect, invariants.Balance},
	},
}

// Expectation is a cell's expected outcome: the invariants that some draw breaks, and why.
type Expectation struct {
	Breaks  []invariants.Name // catalogue order; empty: every invariant holds for every draw
	Reasons []string          // one line per mechanism that breaks something here
	// MayBreak lists invariants a mechanism can break only with a combination the generator
	// rarely draws: allowed, not required to be found.
	MayBreak []invariants.Name
}

// Agrees reports whether a set of broken invariants agrees with the expectation: everything
// expected was found, and nothing was found that is neither expected nor allowed.
func (e Expectation) Agrees(broken []invariants.Name) bool {
	for _, name := range e.Breaks {
		if !slices.Contains(broken, name) {
			return false
		}
	}
	for _, name := range broken {
		if !slices.Contains(e.Breaks, name) && !slices.Contains(e.MayBreak, name) {
			return false
		}
	}
	return true
}

// Reason renders the reasons as one line.
func (e Expectation) Reason() string {
	if len(e.Reasons) == 0 {
		return "holds: no mechanism of these strategies turns this fault into a lost, invented, repeated or stale effect"
	}
	return strings.Join(e.Reasons, "; ")
}

// Expected returns the catalogue's expectation for a cell.
//
// A cell with a team's strategy on either side (TeamCells) is expected to keep every invariant:
// that is the team's claim, which the runs confirm or refute.
func Expected(c result.Cell) Expectation {
	if teamCell(c) {
		return Expectation{Reasons: []string{"a team's own strategy: expected to keep every invariant (the team's claim; the catalogue has no row for it)"}}
	}
	kind := workload.EffectOf(c.Workload)
	set := map[invariants.Name]bool{}
	var reasons []string
	var mayBreak []invariants.Name
	add := func(e effect, why string) {
		inv := breaks[e][kind]
		if len(inv) == 0 {
			return
		}
		for _, name := range inv {
			set[name] = true
		}
		if !slices.Contains(reasons, why) {
			reasons = append(reasons, why)
		}
	}
	for _, line := range producerTable[c.Producer][c.Fault] {
		switch line.what {
		case lostEvent:
			add(lostEffect, line.why)
		case phantomEvent:
			add(phantomEffect, line.why)
		case dupEvent:
			for _, cl := range consumerTable[c.Consumer][dupInput] {
				add(cl.what, line.why+", and "+cl.why)
			}
		}
	}
	for _, cl := range consumerTable[c.Consumer][c.Fault] {
		add(cl.what, cl.why)
	}
	if kind == workload.External {
		for _, cl := range externalTable[c.Consumer][c.Fault] {
			add(cl.what, cl.why)
		}
	}
	// One schedule can hit the publisher and a consumer at once. Then redelivered-flag applies the
	// unflagged copy of an older set-state event and skips a flagged copy of the newer one as
	// already processed. It needs two faults at the right moments: reachable, rarely drawn.
	if c.Consumer == "redelivered-flag" && kind == workload.Set && !set[invariants.Converges] &&
		(c.Fault == fault.PartitionBroker || c.Fault == fault.BrokerDown) {
		for _, line := range producerTable[c.Producer][c.Fault] {
			if line.what == dupEvent {
				mayBreak = append(mayBreak, invariants.Converges)
				break
			}
		}
	}
	// A phantom price change carries a version no committed change had yet: versioned takes it,
	// and skips the committed change that follows it with a lower version. Reachable whenever a
	// phantom reaches versioned, drawn only when the versions line up.
	if c.Consumer == "versioned" && kind == workload.Set && !set[invariants.NoLostEffect] {
		for _, line := range producerTable[c.Producer][c.Fault] {
			if line.what == phantomEvent {
				mayBreak = append(mayBreak, invariants.NoLostEffect)
				break
			}
		}
	}
	var out Expectation
	for _, name := range invariants.Names() {
		if set[name] {
			out.Breaks = append(out.Breaks, name)
		}
	}
	out.Reasons = reasons
	out.MayBreak = mayBreak
	return out
}

// Cells lists every possible cell of the catalogue: workload, then producer, consumer and fault,
// each in catalogue order. Combinations that cannot exist (a relay fault without a relay) are left out.
func Cells() []result.Cell {
	var out []result.Cell
	for _, w := range workload.Names() {
		for _, p := range strategies.Producers() {
			for _, c := range strategies.ConsumerNames() {
				for _, k := range fault.Kinds() {
					if k.Possible(strategies.HasRelay(p)) != nil {
						continue
					}
					out = append(out, result.Cell{Producer: p.Name(), Consumer: c, Workload: w, Fault: k.Name})
				}
			}
		}
	}
	return out
}

// TeamCells lists the cells of a team's registered strategies (strategies.RegisterProducer,
// RegisterConsumer, service.Register): every workload and possible fault for each pairing in
// which at least one side is a team's, in registration order after the built-ins. A registered
// service pairs only with itself: its producer and consumer are one program. The catalogue makes
// no claim about these cells: the team's claim is that every invariant holds (Expected).
func TeamCells() []result.Cell {
	producers := append(strategies.Producers(), strategies.RegisteredProducers()...)
	consumers := append(strategies.Consumers(), strategies.RegisteredConsumers()...)
	builtinP, builtinC := strategies.ProducerNames(), strategies.ConsumerNames()
	var out []result.Cell
	for _, w := range workload.Names() {
		for _, p := range producers {
			for _, c := range consumers {
				if slices.Contains(builtinP, p.Name()) && slices.Contains(builtinC, c.Name()) {
					continue // the catalogue's
				}
				_, pIsService := p.(interface{ RealOnly() error })
				_, cIsService := c.(interface{ RealOnly() error })
				if (pIsService || cIsService) && (!pIsService || !cIsService || p.Name() != c.Name()) {
					continue
				}
				for _, k := range fault.Kinds() {
					if k.Possible(strategies.HasRelay(p)) != nil {
						continue
					}
					out = append(out, result.Cell{Producer: p.Name(), Consumer: c.Name(), Workload: w, Fault: k.Name})
				}
			}
		}
	}
	return out
}

// teamCell reports whether a cell has a team's strategy on either side.
func teamCell(c result.Cell) bool {
	return !slices.Contains(strategies.ProducerNames(), c.Producer) || !slices.Contains(strategies.ConsumerNames(), c.Consumer)
}
