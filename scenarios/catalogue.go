package scenarios

import (
	"fmt"
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
// Topology: one consumer process under every fault except concurrent-consumers (two or three)
// and reorder (one or two); prefetch 1-3; one relay. Limits that draw more competing consumers
// (Limits.MaxConsumers) add what those do (competeLines), each with a reason naming the bound.
//
// Bounds. What the catalogue expects is what some schedule within the generator's bounds
// (Limits: commands, keys, faults a schedule, a cut's length; fault.Bound: the operation a fault
// fires at) breaks, and "holds" means holds within them. A mechanism that needs more faults in
// one schedule than the bound allows is no expectation there: it has its line in
// everyAttemptTable, ExpectedWithin counts it only under limits that draw it, and the cell's
// reason says that the claim holds only within the bound. Where a strategy's own budget
// (strategies.PublishRetry) meets the bound, the reason names both. An allowance (MayBreak) is
// kept only where a run shows it: its reason cites that run, and TestMayBreakIsReachable replays
// it.

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
		fault.PartitionDB:     {{lostEvent, "double-write's database link is cut with its COMMIT in flight (partition-db at pg.commit): the server commits, the reply is lost with the connection, and it takes the commit for a failure and does not publish"}},
		fault.PartitionBroker: {
			{lostEvent, "double-write's publish retries run out while its link is cut: the committed event is dropped"},
			{dupEvent, "double-write loses a confirm with its link and publishes again after healing"},
		},
		fault.BrokerDown: {
			{lostEvent, "double-write's publish retries run out while the broker is down"},
			{dupEvent, "double-write loses a confirm when the broker goes down and publishes again"},
		},
		fault.BrokerRestart: {{lostEvent, "double-write's publish retries run out while the broker restarts: the committed event is dropped"}},
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
		fault.BrokerRestart: {{phantomEvent, "publish-first's first copy was stored, the restart took its confirm, the retries run out while the broker is away and it does not commit"}},
	},
	"outbox": {
		fault.CrashRelay:      {{dupEvent, "the relay dies between publishing and marking: the rows are published again (seed 003)"}},
		fault.LostConfirm:     {{dupEvent, "the relay misses a confirm, rolls the mark back and publishes the batch again"}},
		fault.PartitionBroker: {{dupEvent, "the relay loses a confirm with its link, rolls back and publishes the batch again"}},
		fault.PartitionDB:     {{dupEvent, "the relay published, then cannot mark the rows: a later pass publishes them again"}},
		fault.BrokerDown:      {{dupEvent, "the relay loses confirms when the broker goes down and publishes the batch again"}},
		fault.BrokerRestart:   {{dupEvent, "the relay loses its confirms when the broker restarts and publishes the batch again once it is back: the stored copies survived the restart"}},
		fault.Latency:         {{dupEvent, "the relay's confirms come after its timeout on a slow broker link: it rolls back and publishes the batch again"}},
	},
	"log-tailing": {
		fault.CrashRelay:      {{dupEvent, "the tailer dies between publishing and advancing the slot: the slot hands it the same changes again"}},
		fault.LostConfirm:     {{dupEvent, "the tailer misses a confirm, does not advance, and publishes the changes again"}},
		fault.PartitionBroker: {{dupEvent, "the tailer loses a confirm with its link and publishes the changes again"}},
		fault.PartitionDB:     {{dupEvent, "the tailer published, then cannot advance the slot: it reads and publishes the changes again"}},
		fault.BrokerDown:      {{dupEvent, "the tailer loses confirms when the broker goes down and publishes the changes again"}},
		fault.BrokerRestart:   {{dupEvent, "the tailer loses its confirms when the broker restarts and publishes the changes again once it is back: the stored copies survived the restart"}},
		fault.Latency:         {{dupEvent, "the tailer's confirms come after its timeout on a slow broker link: it publishes the changes again"}},
	},
}

// everyAttemptTable holds what a producer does only when a fault hits every attempt of one
// publish: as many faults of the kind in one schedule as its retry budget
// (strategies.PublishRetry.Attempts, 4), past the generator's default bound of 2
// (DefaultLimits.MaxFaults). Within that bound the claim that it does not happen holds, and the
// cell's reason says so; with 4 faults or more a schedule it is expected. With up to 5 faults, every
// publish-first lost-confirm cell invents an event in 14-18% of seeds (9% with up to 4; none with
// 2 or 3); TestBoundedClaims checks both sides.
var everyAttemptTable = map[string]map[string][]producerLine{
	"publish-first": {
		fault.LostConfirm: {{phantomEvent, "publish-first gives up with every copy queued and does not commit: an event for a transaction that never committed"}},
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
		dupInput:              {{dupEffect, "naive applies every copy it receives"}},
		fault.CrashConsumer:   {{dupEffect, "naive dies after its commit and before its ack: the redelivery is applied again"}},
		fault.AmbiguousCommit: {{dupEffect, "naive hands back a delivery whose COMMIT did take effect and applies it again"}, {staleEffect, reorderRequeue}},
		fault.LostAck:         {{dupEffect, "naive's ack is lost: the broker redelivers an applied message"}},
		fault.PartitionBroker: {{dupEffect, "naive's ack cannot cross the cut link: the applied message is redelivered"}},
		fault.BrokerDown:      {{dupEffect, "naive's ack cannot reach the broker that is down: the applied message is redelivered"}},
		fault.BrokerRestart:   {{dupEffect, "naive's ack cannot reach the restarting broker: the applied message is redelivered"}},
		fault.PartitionDB: {
			{dupEffect, "naive's database link is cut with its COMMIT in flight (partition-db at pg.commit): the effect commits, the reply is lost, and it hands the delivery back and applies it again"},
			{staleEffect, reorderRequeue},
		},
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
		fault.PartitionBroker:     {{dupEffect, "ack-first's Ack is written into a link that dies under it: it returns nil, the broker never gets it and redelivers what ack-first then applied"}},
		fault.BrokerDown:          {{dupEffect, "ack-first's Ack is written into a connection the outage closes: it returns nil, the broker never gets it and redelivers what ack-first then applied"}},
		fault.BrokerRestart:       {{dupEffect, "ack-first's Ack is written into a connection the restart closes: it returns nil, the broker never gets it and redelivers what ack-first then applied"}},
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

// Expected returns the catalogue's expectation for a cell whose scenarios the generator draws
// within its default bounds (DefaultLimits): ExpectedWithin(c, DefaultLimits).
//
// A cell with a team's strategy on either side (TeamCells) is expected to keep every invariant:
// that is the team's claim, which the runs confirm or refute.
func Expected(c result.Cell) Expectation { return ExpectedWithin(c, DefaultLimits) }

// ExpectedWithin returns the catalogue's expectation for a cell whose scenarios are drawn within
// lim. A mechanism that needs more faults in one schedule than lim.MaxFaults (everyAttemptTable)
// is not expected; the reasons then say which invariants hold only within that bound, and why.
// Where lim.MaxConsumers draws more competing consumers than the fault's own draw, what they do
// is expected, or allowed where a run shows it (competeLines).
func ExpectedWithin(c result.Cell, lim Limits) Expectation {
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
	allowShown := func(name invariants.Name, why, shown string) {
		if !slices.Contains(mayBreak, name) {
			mayBreak = append(mayBreak, name)
		}
		if shown != "" {
			why += " (shown: " + shown + ")"
		}
		reasons = append(reasons, "may break "+string(name)+", "+why)
	}
	allow := func(name invariants.Name, why string) { allowShown(name, why, mayBreakShown[c]) }
	// What a producer's line does at the consumer: the effects it leads to, with their reasons.
	effects := func(line producerLine) []consumerLine {
		switch line.what {
		case lostEvent:
			return []consumerLine{{lostEffect, line.why}}
		case phantomEvent:
			return []consumerLine{{phantomEffect, line.why}}
		}
		var out []consumerLine
		for _, cl := range consumerTable[c.Consumer][dupInput] {
			out = append(out, consumerLine{cl.what, line.why + ", and " + cl.why})
		}
		return out
	}
	lines, notes := producerLinesOn(c, lim) // the broker's say (catalogue_nats.go)
	attempts := strategies.PublishRetry.Attempts
	var pastBound []producerLine
	for _, line := range everyAttemptTable[c.Producer][c.Fault] {
		if lim.MaxFaults < attempts {
			pastBound = append(pastBound, line)
			continue
		}
		lines = append(lines, producerLine{line.what, fmt.Sprintf("a %s on each of the %d attempts of one publish (strategies.PublishRetry; %d faults in one schedule, within the bound of %d): %s",
			c.Fault, attempts, attempts, lim.MaxFaults, line.why)})
	}
	for _, line := range lines {
		for _, e := range effects(line) {
			add(e.what, e.why)
		}
	}
	cls, cnotes := consumerLinesOn(c, lim)
	for _, cl := range cls {
		add(cl.what, cl.why)
	}
	if kind == workload.External {
		for _, cl := range externalTable[c.Consumer][c.Fault] {
			add(cl.what, cl.why)
		}
	}
	// Competing consumers past the fault's own draw (Limits.MaxConsumers): what they do on their
	// own, and what they allow where a run shows it.
	n, extra := extraConsumers(c.Fault, lim)
	var rare []consumerLine
	if extra {
		var shown []consumerLine
		shown, rare = competeLines(c.Consumer, c.Fault, n, lim, lines)
		for _, cl := range shown {
			add(cl.what, cl.why)
		}
	}
	// A mechanism past the fault bound: what it would break holds, and only within the bound.
	for _, line := range pastBound {
		var names []string
		for _, e := range effects(line) {
			for _, name := range breaks[e.what][kind] {
				if !set[name] && !slices.Contains(names, string(name)) {
					names = append(names, string(name))
				}
			}
		}
		if len(names) == 0 {
			continue
		}
		verb := "holds"
		if len(names) > 1 {
			verb = "hold"
		}
		reasons = append(reasons, fmt.Sprintf("%s %s only within the generator's bound of %d faults a schedule (Limits.MaxFaults): a %s on each of the %d attempts of one publish (strategies.PublishRetry) takes %d, and then %s",
			strings.Join(names, " and "), verb, lim.MaxFaults, c.Fault, attempts, attempts, line.why))
	}
	// One schedule can hit the publisher and a consumer at once. Then redelivered-flag applies the
	// unflagged copy of an older set-state event and skips a flagged copy of the newer one as
	// already processed. It needs two faults at the right moments: reachable, rarely drawn, and
	// under broker-down, whose occurrence counts every process's broker operations, only past the
	// generator's bound (fault.Bound), as under partition-broker with the log tailer.
	if c.Consumer == "redelivered-flag" && kind == workload.Set && !set[invariants.Converges] &&
		(c.Fault == fault.PartitionBroker || c.Fault == fault.BrokerDown) &&
		slices.ContainsFunc(lines, func(l producerLine) bool { return l.what == dupEvent }) {
		allow(invariants.Converges, "with a fault on the publisher and one on the consumer in one schedule: the publisher publishes an older price again, unflagged, after the consumer applied a newer one, and the consumer's closed channel flags the copy of the newer one redelivered, which it skips as already processed")
	}
	// Two late faults in one schedule: the relay, back after the window, republishes an older
	// change after the consumer, itself back late holding a newer one it had not acknowledged,
	// applied that newer one. dedup-window has forgotten the older id and applies it, then
	// refuses the newer copy as seen within the window: an older price is written last. Both
	// faults must meet at the right moments: rare (2-8 in 3,000 seeds of a relay's cell).
	if c.Consumer == "dedup-window" && c.Fault == fault.LateRedelivery && kind == workload.Set && !set[invariants.Converges] &&
		slices.ContainsFunc(lines, func(l producerLine) bool { return l.what == dupEvent }) {
		allow(invariants.Converges, "with the relay and consumer-1 both back late in one schedule: the relay's late copy of an older price comes after the consumer applied the newer one it was redelivered, the window has forgotten the older id, and the newer copy is refused as seen within the window")
	}
	// A phantom price change carries a version no committed change had yet. A consumer that skips
	// an older event once a newer one of its key was applied (an overtaken line: versioned) skips
	// the committed change the phantom overtook, and loses it. One publisher publishes in version
	// order and commits each change before it publishes the next, so the phantom overtakes a
	// committed change only where the same fault hands the consumer a change it has not applied
	// behind a newer one: the consumer's overtaken line under this fault (partition-db: its BEGIN
	// fails on the cut link and it hands the delivery back behind one already prefetched). Under
	// crash-producer, partition-broker, broker-down and latency no run shows it: a closed channel
	// requeues at the original position, and a late COMMIT hands back a change already applied;
	// every schedule of 2-3 changes of one product with one or two faults (each target, point and
	// link, each occurrence the generator draws, cuts and slow links of 1, 100 and 300 ms,
	// prefetch 1-3) keeps it (TestPhantomOvertakesOnlyByHandBack).
	if kind == workload.Set && !set[invariants.NoLostEffect] &&
		slices.ContainsFunc(cls, func(l consumerLine) bool { return l.what == overtakenEffect }) &&
		slices.ContainsFunc(lines, func(l producerLine) bool { return l.what == phantomEvent }) {
		allow(invariants.NoLostEffect, phantomOvertakes(c))
	}
	// What competing consumers do only in rare draws: allowed where a run with at most n
	// consumers shows it (competeShown), and else claimed to hold.
	if run, ok := competeShown[c]; ok && extra && run.consumers <= n {
		for _, cl := range rare {
			for _, name := range breaks[cl.what][kind] {
				if !set[name] && !slices.Contains(mayBreak, name) {
					allowShown(name, cl.why, run.String())
				}
			}
		}
	}
	// Two producers whose transactions interleave: a change of a key committed after a newer one
	// reaches the broker after it, whichever way the producer publishes (its own publish after
	// its COMMIT, or a relay or tailer in commit order). A consumer that keeps the newest version
	// skips it (right for prices, a lost credit); any other applies it last (a stale price).
	if c.Fault == fault.ConcurrentProducers {
		e, what := staleEffect, c.Consumer+" applies the older change last"
		if c.Consumer == "versioned" {
			e, what = overtakenEffect, overtaken
		}
		why, ok := interleaveWhy[c.Producer]
		if !ok {
			why = "two producers' transactions interleave and the older change of a key commits after the newer one, so its event reaches the broker second"
		}
		add(e, why+", and "+what)
	}
	// A relay's batch out of order: rare in the generator's draws (none in 1,000 seeds of a
	// cell), shown by a schedule built for it. A consumer that keeps the newest version skips
	// the older event (a lost credit); one that skips repeats by id applies it last and skips
	// the copy of the newer one (a stale price).
	if _, ok := RelayLostOnWireScenario(c); ok {
		e, what := staleEffect, c.Consumer+" applies the older event last"
		if c.Consumer == "versioned" {
			e, what = overtakenEffect, overtaken
		}
		for _, name := range breaks[e][kind] {
			if !set[name] {
				allowShown(name, relayLostOnWire+", and "+what, relayLostOnWireShown(c))
			}
		}
	}
	reasons = append(reasons, append(notes, cnotes...)...)
	reasons = append(reasons, chainNotes(c, set)...) // catalogue_chain.go
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

// extraConsumers reports whether lim lets the generator draw more competing consumers under the
// fault than the kind's own draw (fault.Kind.Consumers, and Bound.ExtraConsumers more), the
// topology the tables are written for, and how many it draws at most then.
func extraConsumers(faultKind string, lim Limits) (int, bool) {
	k, err := fault.Lookup(faultKind)
	if err != nil || lim.MaxConsumers <= 0 {
		return 0, false
	}
	n := max(k.Consumers, lim.MaxConsumers)
	return n, n > k.Consumers+k.Bound.ExtraConsumers
}

// competeLines is what n competing consumers (more than the fault's own draw: extraConsumers)
// add to a consumer's lines under a fault whose producer lines are lines, within lim: the lines
// some draw shows, and the rare ones, allowed only where competeShown cites a run.
//
//   - Two consumers hold two events of one key at once and commit them in either order: the
//     consumer's concurrent-consumers lines that need no copy (reorderCompete, and versioned's
//     overtaken). It takes two events, so two commands (Limits.MaxCommands).
//   - Where the producer publishes an event twice (a dupEvent line), two consumers can take the
//     two copies at once, and inbox-racy, whose check and record race, applies both. Under
//     broker-down and broker-restart the first copy waits in the queue while the broker is
//     away, and the publisher's second copy joins it as soon as it is back: some draw shows it.
//     Under the other faults a consumer takes the first copy as soon as it arrives, and the two
//     meet only where the second arrives while the first is still processed: rare.
//   - A phantom (a phantomEvent line) overtakes a committed change of its key when another
//     consumer takes it first: versioned skips the committed one as older, and loses it. Rare.
//
// The concurrent-consumers fault's own copy, redelivered while the first is still processed,
// needs its connection loss mid-message; the other faults' redeliveries come after the first
// consumer's commit or with the broker away until it has committed, and redelivered-flag's
// flagged copy finds it recorded: no run with 2 or 3 consumers shows that duplicate elsewhere.
func competeLines(consumer, faultKind string, n int, lim Limits, lines []producerLine) (expected, rare []consumerLine) {
	bound := fmt.Sprintf("with %d competing consumers (Limits.MaxConsumers), ", n)
	if max(1, lim.MaxCommands) >= 2 {
		for _, cl := range consumerTable[consumer][fault.ConcurrentConsumers] {
			if cl.what != dupEffect {
				expected = append(expected, consumerLine{cl.what, bound + cl.why})
			}
		}
	}
	held := faultKind == fault.BrokerDown || faultKind == fault.BrokerRestart
	for _, line := range lines {
		switch {
		case line.what == dupEvent && consumer == "inbox-racy" && held:
			expected = append(expected, consumerLine{dupEffect, bound + line.why + ": the first copy waits in the queue while the broker is away, two consumers take the two copies at once, and inbox-racy checks both before either records"})
		case line.what == dupEvent && consumer == "inbox-racy":
			rare = append(rare, consumerLine{dupEffect, bound + line.why + ", and the second copy arrives while a consumer still processes the first: another consumer takes it, and inbox-racy checks both before either records"})
		case line.what == phantomEvent && consumer == "versioned" && max(1, lim.MaxCommands) >= 2:
			rare = append(rare, consumerLine{lostEffect, bound + line.why + ", and another consumer applies that phantom price change before the committed older change: versioned skips the committed one as older"})
		}
	}
	return expected, rare
}
