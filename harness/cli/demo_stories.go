package cli

import (
	"fmt"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
)

// A demo is a guided story for a room: a few acts, each one fixed scenario (strategies, commands
// and one fault at a named point or at a first operation, so that it gives the same verdict every
// time and on both backends), narrated before it runs, shown as a timeline, judged, and closed
// with its lesson. `simulate demo NAME` tells it; between steps it waits for Enter when a person
// is at a terminal.

// story is one demo.
type story struct {
	name  string
	title string // one line, for `simulate list` and the demo's header
	intro string
	acts  []act
	moral string // the closing words, after the recap
}

// act is one scenario of a story and what to say around it.
type act struct {
	title string // "double write, naive consumer"
	// named is the name of a scenarios.NamedScenarios entry (which the fidelity test runs on both
	// backends); scenario is used when named is empty.
	named    string
	scenario history.Scenario
	tell     string            // what we are about to do
	watch    string            // what to watch for in the timeline
	breaks   []invariants.Name // the invariants the story says this act breaks, in catalogue order; nil: none
	lesson   string
}

// resolve returns the act's scenario.
func (a act) resolve() (history.Scenario, error) {
	if a.named == "" {
		return a.scenario, nil
	}
	for _, n := range scenarios.NamedScenarios() {
		if n.Name == a.named {
			return n.Scenario, nil
		}
	}
	return history.Scenario{}, fmt.Errorf("no named scenario %q", a.named)
}

// demoScenario is a one-consumer scenario with its faults, shaped as the named scenarios are.
func demoScenario(p, c, w, f string, cmds []history.Message, faults ...history.Fault) history.Scenario {
	return history.Scenario{Producer: p, Consumer: c, Workload: w, Fault: f, Seed: 1,
		Commands: cmds, Faults: faults, Consumers: 1, Prefetch: 1, Batch: 1}
}

// stories are the demos, in the order `simulate list` shows them.
func stories() []story {
	return []story{
		{
			name:  "payment-charged-twice",
			title: "an order paid twice, and what it takes to pay it once",
			intro: "An order service records an order and publishes OrderPlaced; a payment service charges the order " +
				"when the message arrives. The broker delivers at least once: a message that was never acked is " +
				"delivered again. In each act we kill one process at one exact point, then count the payments.",
			acts: []act{
				{
					title: "double write, naive consumer",
					named: "naive pays twice when the consumer dies before its ack",
					tell: "The order service commits the order, then publishes OrderPlaced. The payment service charges " +
						"the order, commits the payment, then acks the message. We kill the payment service after its " +
						"commit, before its ack.",
					watch: "the broker never got the ack, so it hands the message back (redelivered) to the restarted " +
						"payment service, which charges again.",
					breaks: []invariants.Name{invariants.NoDuplicateEffect},
					lesson: "Commit, then ack is at least once: a crash between the two charges the customer again. " +
						"A consumer that cannot recognise a message it has already handled pays twice.",
				},
				{
					title: "outbox, naive consumer",
					named: "the outbox relay publishes twice when it dies before marking",
					tell: "Now the order service writes the order and an outbox row in one transaction, and a relay " +
						"publishes the outbox rows, then marks them published. We kill the relay after it published " +
						"OrderPlaced, before it marks the row.",
					watch: "the restarted relay finds the row still unpublished and publishes it again: two copies " +
						"of OrderPlaced, and the naive payment service charges both.",
					breaks: []invariants.Name{invariants.NoDuplicateEffect},
					lesson: "The outbox fixed losing events, not duplicating them: it publishes at least once. " +
						"With a naive consumer, the order is paid twice again.",
				},
				{
					title: "outbox, inbox",
					named: "inbox absorbs the relay's second publish",
					tell: "Same outbox, same kill of the relay. This time the payment service keeps an inbox: in the " +
						"payment's own transaction it inserts the message id under a unique key, and skips a message " +
						"whose id is already there.",
					watch: "the second copy arrives; its inbox insert fails on the unique key, and the service rolls " +
						"back and acks without charging.",
					lesson: "Exactly-once delivery does not exist; exactly-once effects do: deliver at least once " +
						"(outbox), and de-duplicate in the effect's own transaction (inbox).",
				},
			},
			moral: "The outbox so that nothing is lost, the inbox so that nothing happens twice: you need both.",
		},
		{
			name:  "lost-order",
			title: "an order that is never paid, and a payment for an order that was never placed",
			intro: "Where does the publish go, relative to the database commit? Three answers, and in each act the " +
				"order service dies at the worst moment. At the end we compare the orders in the database with " +
				"the payments.",
			acts: []act{
				{
					title: "double write: commit, then publish",
					named: "double write loses the event when the producer dies after commit",
					tell:  "The order service commits the order, then publishes OrderPlaced. We kill it between the two.",
					watch: "the order is in the database, but no message ever leaves: the payment service has " +
						"nothing to do.",
					breaks: []invariants.Name{invariants.NoLostEffect},
					lesson: "The database and the broker are two systems: no order of commit and publish is atomic. " +
						"Commit first, and a crash loses the event.",
				},
				{
					title: "publish first: publish, then commit",
					named: "publish first invents an order when the producer dies after publishing",
					tell: "Swap them: publish OrderPlaced first, then commit the order. We kill the order service " +
						"between the publish and the commit.",
					watch:  "the payment service charges an order that the database never recorded.",
					breaks: []invariants.Name{invariants.NoPhantomEffect},
					lesson: "Publish first, and a crash invents an event: a payment for an order that does not exist.",
				},
				{
					title: "transactional outbox",
					scenario: demoScenario("outbox", "inbox", workload.Orders.Name, "crash-producer", scenarios.Commands(scenarios.NewSeedSource(0), workload.Orders.Name, 1, 1),
						history.Fault{Kind: "crash-producer", Target: "producer", Point: "producer.after-commit", Nth: 1}),
					tell: "The outbox: the order and its OrderPlaced row commit in one transaction, and a relay, a " +
						"separate process, publishes the row. We kill the order service right after its commit, " +
						"as in act 1.",
					watch: "the relay still finds the outbox row and publishes it: the order is paid, once.",
					lesson: "One transaction for the state and the event, and a relay to publish it: the event " +
						"leaves if and only if the order committed. The relay can still publish twice (see the " +
						"payment-charged-twice demo); the inbox absorbs that.",
				},
			},
			moral: "Never choose between a commit and a publish: write the event in the transaction, publish it after.",
		},
		{
			name:  "second-email",
			title: "a second welcome email: when the effect lives outside the database",
			intro: "A user signs up; a mail service sends one welcome email through an outside mail gateway. The " +
				"inbox de-duplicates inside the database transaction, but an email, once sent, cannot be rolled " +
				"back. We count the emails the gateway sent.",
			acts: []act{
				{
					title: "outbox, inbox",
					named: "inbox sends a second email when the consumer dies before its commit",
					tell: "The mail service inserts the message id into its inbox, asks the gateway to send the " +
						"email, then commits. We kill it after the gateway call, before the commit.",
					watch: "the crash rolls back the inbox row, but the email is already out. The redelivered " +
						"message finds the inbox empty, and the email goes out again.",
					breaks: []invariants.Name{invariants.NoDuplicateEffect},
					lesson: "An inbox protects the effects inside its own transaction, and only those: a call to " +
						"the outside world is not rolled back with it.",
				},
				{
					title: "outbox, idempotency key",
					named: "the gateway's idempotency key keeps it to one email",
					tell: "Same kill. This time the service passes the event id to the gateway as an idempotency " +
						"key, and the gateway remembers the keys it has seen.",
					watch: "the second call reaches the gateway with the same key, and the gateway drops it.",
					lesson: "When the effect is outside your database, the de-duplication has to happen where the " +
						"effect happens: send an idempotency key, and let the other side refuse the repeat.",
				},
			},
			moral: "Exactly once ends at your transaction's edge; past it, you need the other side's help.",
		},
		{
			name:  "stale-price",
			title: "an older price written last: idempotent is not the same as ordered",
			intro: "The catalogue service publishes ProductPriceChanged: \"set the price of sku-1 to X\". Setting a " +
				"price is idempotent: applying one change twice is harmless. Is applying two changes in the " +
				"wrong order harmless too? We look at the final price.",
			acts: []act{
				{
					title: "natural idempotency",
					named: "a reordered delivery leaves natural on an older price",
					tell: "Two price changes for one product, price-1 then price-2. The pricing service sets the " +
						"price it is told. The fault: the service hands price-1 back to the broker (nack, requeue) " +
						"once price-2 has arrived, so price-2 overtakes it.",
					watch:  "price-2 is written, then the older price-1 overwrites it.",
					breaks: []invariants.Name{invariants.Converges},
					lesson: "Idempotency handles duplicates, not order: a redelivery or a competing consumer can " +
						"bring an older change last.",
				},
				{
					title: "versioned writes",
					named: "versioned converges whatever the order",
					tell: "Same two changes, same overtaking. Each event carries its product's version (1, 2, ...), " +
						"and the service writes a price only when the event's version is newer than the stored one.",
					watch: "price-1 arrives last, is older than the stored version 2, and is skipped.",
					lesson: "For set-state events, compare versions: the newest wins, whatever order the events " +
						"arrive in.",
				},
			},
			moral: "Idempotent says what a repeat does; only a version says which change is the latest.",
		},
		{
			name:  "dedup-window",
			title: "a duplicate that slips through after the dedup window",
			intro: "Keeping every message id for ever is a table that only grows, so message stores forget: " +
				"MassTransit's inbox keeps an id 30 minutes, NServiceBus's outbox 7 days. Here the payment " +
				"service remembers an id for three seconds (strategies.Window). The order service publishes through an " +
				"outbox relay, and in each act the relay dies after publishing OrderPlaced, before marking it: " +
				"when it comes back, it publishes the order again. What matters is when it comes back.",
			acts: []act{
				{
					title: "outbox, dedup window: the copy inside the window",
					named: "the dedup window absorbs the relay's second publish inside the window",
					tell: "The payment service forgets the ids it saw more than three seconds ago, records the message " +
						"id with the time under a unique key in the payment's transaction, charges, commits, acks. We " +
						"kill the relay after its publish; it is back 30 ms later.",
					watch: "the relay publishes order-1 again; the window still holds its id, the insert fails on " +
						"the key, and the service rolls back and acks without charging.",
					lesson: "Inside the window, a dedup window is an inbox: the copy is recognised and refused.",
				},
				{
					title: "outbox, dedup window: the copy after the window",
					named: "the dedup window pays twice when the relay republishes after the window",
					tell: "Same kill, but the relay is back only five seconds later (late-redelivery): on the " +
						"simulator logical time jumps, on real servers it really waits.",
					watch: "the second copy arrives after the window: the service has forgotten order-1's id, " +
						"records it afresh and charges again.",
					breaks: []invariants.Name{invariants.NoDuplicateEffect},
					lesson: "A dedup window is a bet that no copy comes later than the window. A relay down for " +
						"longer, a message parked and replayed, a backup restored: the copy comes late, and it is paid.",
				},
				{
					title: "outbox, inbox: the same late copy",
					named: "the inbox absorbs the relay's republish after the window",
					tell:  "Same late republish, with an inbox that never forgets.",
					watch: "the copy arrives five seconds late; its inbox insert fails on the key, and nothing is charged.",
					lesson: "Size the window past the longest a copy can take to come back (the relay's downtime, " +
						"the broker's redelivery, a replay), or keep the ids for as long as the messages can come back.",
				},
			},
			moral: "A dedup window holds only for the copies that come back inside it.",
		},
	}
}

// demoNames lists the demos' names.
func demoNames() []string {
	var out []string
	for _, s := range stories() {
		out = append(out, s.name)
	}
	return out
}
