package scenarios

import "github.com/deliveryharness/harness/harness/fault"

// The catalogue lines of the dedup window (the dedup-window consumer, seed 004's garbage-collected
// message store) and of the late-redelivery fault, added to the tables at init.
//
// dedup-window is the inbox with a clock: its record of a message is under the same unique key
// in the effect's transaction, and lives strategies.Window (3 s). Under every fault but
// late-redelivery it behaves as the inbox, because every copy arrives inside the window: within
// the generator's bounds (DefaultLimits: a cut or an outage of at most 300 ms, at most 2 faults)
// the simulator's slowest path from a first copy's commit to its last copy (an outage, a lock
// timeout of 200 ms, a restart of 30 ms, a broker restart of 300 ms, retries with their backoff,
// on NATS two ack waits of 500 ms) stays well under 3 s. So:
//   - crash-producer, ambiguous-commit, lost-confirm, crash-relay, partition-broker, broker-down,
//     broker-restart, latency: a producer's or relay's second publish, or a redelivery after a
//     commit whose reply or ack was lost, arrives within the window and fails on the key, as in
//     the inbox (seed 003); a lost or invented event is the producer's line, whatever the consumer.
//   - crash-consumer and lost-ack: the redelivery comes back within the restart delay or a
//     reconnect (on NATS, the ack wait), inside the window, and fails on the key.
//   - concurrent-consumers: the competing copy's insert waits for the first transaction and then
//     fails on the key; like the inbox, two consumers may apply two price changes of one product
//     in either order (reorderCompete).
//   - partition-db and reorder: a delivery handed back returns behind the next one, as for the
//     inbox (reorderRequeue, reorderFault).
//   - concurrent-producers: the producer's line (an older change committed last), for every
//     consumer that applies it (ExpectedWithin).
//   - an external effect (emails): the email goes out before the record commits, so a crash,
//     a cut COMMIT or a slow gateway resends it, as for the inbox (externalTable).
//
// A window must outlast every timeout and retry between a first copy and the last (seed 004's
// warning), on real servers too, where a client's COMMIT and confirm timeouts are 1 s
// (worker.DefaultTimeouts) rather than the simulator's 50 ms: a consumer whose COMMIT reply never
// comes hands the delivery back a second later (ambiguous-commit), and a relay that misses a
// confirm publishes again a second later (lost-confirm), both inside 3 s. A real RabbitMQ restart
// (broker-restart: stop_app, start_app) takes seconds, not the simulator's 300 ms, and one that
// takes longer than the window still lets a copy through on real servers: the consumer's ack of
// an applied delivery dies with its channel, and the delivery comes back after the restart (a
// 5-run sample of outbox/dedup-window/orders broke once, its restart 4.7 s long).
//
// late-redelivery holds a copy back past the window: the relay or a consumer dies at one of its
// fault points and is back only fault.LateBy (5 s) later.
//   - Relays (outbox, log-tailing) that die between publishing and marking (or advancing the
//     slot) publish the rows again when they are back: a duplicate publish, 5 s late. Producers
//     without a relay (double-write, publish-first) are not hit: the fault targets a relay or a
//     consumer, and their lines are the consumers'.
//   - Consumers that die after their effect committed and before their ack get the broker's
//     redelivery when they are back: naive applies it again, dedup-window has forgotten the id
//     and applies it again; ack-first dies after its ack and before its commit and loses the
//     effect, however late it returns.
//   - The inbox, inbox-racy (one consumer: its check and its record never race), natural,
//     versioned, idempotency-key and redelivered-flag keep their records for ever, or are
//     idempotent by the effect's key: a late copy is a copy like any other. A late copy keeps its
//     order: the relay claims the oldest unpublished rows first, and the dead consumer's
//     deliveries go back to their place in the queue, so no older set-state event is applied
//     after a newer one.
func init() {
	producerTable["outbox"][fault.LateRedelivery] = append(producerTable["outbox"][fault.LateRedelivery], producerLine{dupEvent,
		"the relay dies between publishing and marking and is back only after the window (late-redelivery): it publishes the rows again, 5 s after the first copies"})
	producerTable["log-tailing"][fault.LateRedelivery] = append(producerTable["log-tailing"][fault.LateRedelivery], producerLine{dupEvent,
		"the tailer dies between publishing and advancing the slot and is back only after the window (late-redelivery): the slot hands it the same changes, published again 5 s after the first copies"})

	addConsumerLines(consumerTable, "naive", map[string][]consumerLine{fault.LateRedelivery: {{dupEffect,
		"naive dies after its commit and before its ack and is back after the window: the redelivery is applied again"}}})
	addConsumerLines(consumerTable, "ack-first", map[string][]consumerLine{fault.LateRedelivery: {{lostEffect,
		"ack-first dies after its ack and before its commit: the effect is lost, however late it comes back"}}})

	addConsumerLines(consumerTable, "dedup-window", map[string][]consumerLine{
		fault.PartitionDB:         {{staleEffect, reorderRequeue}},
		fault.ConcurrentConsumers: {{staleEffect, reorderCompete}},
		fault.Reorder:             {{staleEffect, reorderFault}},
		fault.LateRedelivery: {{dupEffect,
			"a copy arrives after the window (late-redelivery): the relay publishes again 5 s late, or dedup-window dies after its commit and before its ack and takes the redelivery 5 s later; its record of the first copy is forgotten by then, and it applies the copy again"}},
	})
	addConsumerLines(externalTable, "dedup-window", map[string][]consumerLine{
		fault.CrashConsumer: {{dupEffect, "dedup-window dies after the email went out and before its commit: its record never committed, and the redelivery sends it again"}},
		fault.PartitionDB:   {{dupEffect, "dedup-window's commit cannot reach the database after the email went out: the rollback does not unsend it, and the redelivery sends it again"}},
		fault.Latency:       {{dupEffect, "dedup-window's gateway call times out on a slow link after the gateway sent the email: it rolls back, and the redelivery sends it again"}},
	})
	for _, name := range []string{"naive", "inbox", "inbox-racy", "redelivered-flag", "versioned", "dedup-window"} {
		addConsumerLines(externalTable, name, map[string][]consumerLine{fault.LateRedelivery: {{dupEffect,
			name + " dies after the email went out and before its commit, and is back after the window: its record never committed, and the redelivery sends it again"}}})
	}
}

// addConsumerLines adds lines, by fault, to a consumer's row of table, after any lines another
// file put there first.
func addConsumerLines(table map[string]map[string][]consumerLine, consumer string, lines map[string][]consumerLine) {
	if table[consumer] == nil {
		table[consumer] = map[string][]consumerLine{}
	}
	for f, ls := range lines {
		table[consumer][f] = append(table[consumer][f], ls...)
	}
}
