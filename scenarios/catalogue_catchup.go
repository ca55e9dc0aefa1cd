package scenarios

import "github.com/deliveryharness/harness/harness/fault"

// The catalogue's lines for the new-subscriber fault (seed 001's edge case: "we need to republish
// old events"). The run's consumers are a new service whose queue is bound at the publisher's Nth
// publish: the events published before never reach its queue, as if the broker's TTL had dropped
// them. Its first consumer replays the outbox's committed rows in id order through the consumer
// strategy under test, then takes live deliveries (fault.CatchUp). The effects in the run's
// database are the new subscriber's alone, so the invariants judge its catch-up.
//
// What the producer does decides the stream the new subscriber gets:
//   - A producer that keeps every event in the outbox (the relays, the log tailer, the event
//     store) loses nothing to it: whatever was published before the binding committed before the
//     replay read it, and whatever commits after the replay's last read is published after the
//     binding. But a row that the replay read and that is published after the binding comes
//     twice, once replayed and once live, and the row at the binding itself always does: a
//     producer-side copy, not flagged redelivered (dupEvent), which only a consumer that
//     de-duplicates by message id or by its effect's key absorbs.
//   - A producer that keeps no outbox (double-write, publish-first) has nothing to replay: the
//     events published before the binding are lost to the new subscriber (lostEvent), as the
//     seed warns of a service whose write and publish are coupled. The generator's Nth is at
//     least 1, so the first publish's event survives when Nth is 1 and a later one is lost when
//     it is 2 or more.

// catchUpOverlap is why a producer with an outbox hands the new subscriber two copies.
const catchUpOverlap = "the new subscriber replays the outbox's committed rows, and a row published after its queue was bound (the one at the binding, always) also comes live: two copies of one event, neither flagged redelivered"

// catchUpLines are the producer lines under new-subscriber, by producer.
var catchUpLines = map[string][]producerLine{
	"double-write":   {{lostEvent, "double-write keeps no outbox: the events it published before the new subscriber's queue was bound are on no log the subscriber can replay, and the broker no longer holds them for it"}},
	"publish-first":  {{lostEvent, "publish-first keeps no outbox: the events it published before the new subscriber's queue was bound are on no log the subscriber can replay, and the broker no longer holds them for it"}},
	"outbox":         {{dupEvent, catchUpOverlap + " (the relay publishes the rows still unpublished at the binding)"}},
	"log-tailing":    {{dupEvent, catchUpOverlap + " (the tailer publishes the outbox inserts its slot still holds at the binding)"}},
	"event-sourcing": {{dupEvent, catchUpOverlap + " (the event store's subscriber publishes the events after its stored position)"}},
	"outbox-offset":  {{dupEvent, catchUpOverlap + " (the offset relay publishes the rows after its cursor)"}},
	"outbox-fenced":  {{dupEvent, catchUpOverlap + " (the fenced relay publishes the rows after its cursor, below the fence)"}},
}

func init() {
	for p, lines := range catchUpLines {
		if producerTable[p] == nil {
			producerTable[p] = map[string][]producerLine{}
		}
		producerTable[p][fault.NewSubscriber] = lines
	}
}
