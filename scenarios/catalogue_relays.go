package scenarios

import (
	"strings"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/scenarios/result"
)

// The lines of the relays that read by position and mark nothing: outbox-offset (a durable cursor,
// id > last), outbox-fenced (a (transaction id, id) position below the transaction-id fence,
// watermill-sql v4's fix) and event-sourcing (the event store is the state; its subscriber reads
// as outbox-fenced does). Each pass reads, publishes with confirms and stores its position in one
// transaction: whatever fails or dies before that commit leaves the position where it was, so the
// batch is published again, as the outbox's relay publishes unmarked rows again. The producers'
// own transactions write the event with the state, so no fault on them loses or invents one.
//
// Under concurrent-producers the second producer's row, with the larger id, commits while the
// first's is still in progress. The cursor passes it (the relay reads id > last and stores the
// larger id), and the smaller id that commits afterwards is never read. The fence keeps the
// second row back until the first transaction ends, then reads both in transaction-id order: it
// loses nothing, and the second event waits (up to the held COMMIT's release, the commit timeout).
func init() {
	positionLines := func(who string) map[string][]producerLine {
		return map[string][]producerLine{
			fault.CrashRelay:      {{dupEvent, who + " dies between publishing and committing its position: the next pass reads after the old position and publishes the batch again"}},
			fault.LostConfirm:     {{dupEvent, who + " misses a confirm, rolls its position back and publishes the batch again"}},
			fault.PartitionBroker: {{dupEvent, who + " loses a confirm with its link, rolls back its position and publishes the batch again"}},
			fault.PartitionDB:     {{dupEvent, who + " published, then cannot commit its position: a later pass publishes the batch again"}},
			fault.BrokerDown:      {{dupEvent, who + " loses confirms when the broker goes down and publishes the batch again"}},
			fault.BrokerRestart:   {{dupEvent, who + " loses its confirms when the broker restarts and publishes the batch again once it is back: the stored copies survived the restart"}},
			fault.Latency:         {{dupEvent, who + "'s confirms come after its timeout on a slow broker link: it rolls back its position and publishes the batch again"}},
			fault.LateRedelivery:  {{dupEvent, who + " dies between publishing and committing its position and comes back only fault.LateBy later: it publishes the batch again, past every dedup window"}},
		}
	}
	offset := positionLines("the offset relay")
	offset[fault.ConcurrentProducers] = []producerLine{{lostEvent, "two producers commit out of id order: the offset relay reads the second's row (the larger id) while the first's transaction is still open, stores that id as its cursor, and never reads the smaller id committed after it (Watermill issue 311, Eventuous issue 222)"}}
	for name, lines := range map[string]map[string][]producerLine{
		"outbox-offset":  offset,
		"outbox-fenced":  positionLines("the fenced relay"),
		"event-sourcing": positionLines("the event store's subscriber"),
	} {
		// Added to, not replaced: a fault's own file (catalogue_catchup.go) may have put its
		// lines for these producers in first.
		if producerTable[name] == nil {
			producerTable[name] = map[string][]producerLine{}
		}
		for kind, l := range lines {
			producerTable[name][kind] = l
		}
	}

	// A relay batch out of order (relayLostOnWire): these relays publish a batch as the outbox's
	// does, with the same allowance, shown at these interleaving seeds of RelayLostOnWireScenario.
	relayLostOnWireSeeds[[2]string{"outbox-offset", fault.PartitionBroker}] = 332
	relayLostOnWireSeeds[[2]string{"outbox-offset", fault.BrokerDown}] = 2
	relayLostOnWireSeeds[[2]string{"outbox-fenced", fault.PartitionBroker}] = 332
	relayLostOnWireSeeds[[2]string{"outbox-fenced", fault.BrokerDown}] = 2
	relayLostOnWireSeeds[[2]string{"event-sourcing", fault.PartitionBroker}] = 107
	relayLostOnWireSeeds[[2]string{"event-sourcing", fault.BrokerDown}] = 0

	// redelivered-flag skipping the flagged copy of a newer price after the relay published an
	// older one again (the catalogue's redelivered-flag allowance) is shown for these relays too:
	// TestMayBreakIsReachable replays the runs.
	for _, p := range []string{"outbox-offset", "outbox-fenced", "event-sourcing"} {
		flag := func(f string) result.Cell {
			return result.Cell{Producer: p, Consumer: "redelivered-flag", Workload: "prices", Fault: f}
		}
		mayBreakShown[flag(fault.PartitionBroker)] = "seed 87"
		mayBreakShown[flag(fault.BrokerDown)] = relayOutagesShown
	}
}

// interleaveWhy is how a producer's events of one key reach the broker out of version order under
// concurrent-producers, where it is not the common way (the older change committing after the
// newer one, published in commit order). A fenced read publishes in transaction-id order, and a
// transaction's id is given at its first write: the first producer's newer change, whose COMMIT
// is held, began writing before the second producer's older change.
var interleaveWhy = map[string]string{}

func init() {
	const fenced = "two producers' transactions interleave and the relay reads in transaction-id order, given at a transaction's first write: the newer change of a key, whose COMMIT is held, began writing before the other producer's older change, so the older change, committed first, reaches the broker second"
	interleaveWhy["outbox-fenced"] = fenced
	interleaveWhy["event-sourcing"] = strings.Replace(fenced, "the relay reads", "the subscriber reads", 1)
}

// relayOutagesShown is the schedule that shows redelivered-flag's allowance under broker-down
// for the relays that read by position, past the generator's bound.
const relayOutagesShown = "only past the generator's bound, by a schedule of 2 price changes in one relay batch with outages at the 5th and the 15th broker operation of the run, where the generator draws up to the 6th"
