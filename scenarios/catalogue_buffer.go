package scenarios

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/scenarios/result"
)

// The dedup-buffer producer's lines (seed 004's sender-side buffering). Its producer writes the
// business row and the send-buffer entry in one transaction and retries a command whose outcome
// it does not know: the buffer drops the repeat of a put that did commit, within
// strategies.BufferPeriod (on the simulator, whose COMMIT timeout is 50 ms; on real servers the
// retry after an unanswered COMMIT comes after the 1 s timeout, past the period, and the business
// row's own key stops it), so ambiguous-commit, partition-db and latency on the producer's side
// lose and invent nothing. Its relay is the outbox's (claim, publish with confirms, mark), only
// later: whatever makes the outbox relay publish twice makes this one publish twice, and the
// buffer, which is before the relay, cannot drop what the relay sends again.
func init() {
	lines := map[string][]producerLine{
		fault.CrashRelay:      {{dupEvent, "the buffer's relay dies between publishing and marking: it publishes the entry again, after the buffer, which dropped repeats only on their way in"}},
		fault.LostConfirm:     {{dupEvent, "the buffer's relay misses a confirm, rolls the mark back and publishes the entry again: the broker holds two copies the buffer never saw"}},
		fault.PartitionBroker: {{dupEvent, "the buffer's relay loses a confirm with its link, rolls back and publishes the batch again"}},
		fault.PartitionDB:     {{dupEvent, "the buffer's relay published, then cannot mark the entries: a later pass publishes them again"}},
		fault.BrokerDown:      {{dupEvent, "the buffer's relay loses confirms when the broker goes down and publishes the batch again"}},
		fault.BrokerRestart:   {{dupEvent, "the buffer's relay loses its confirms when the broker restarts and publishes the batch again once it is back: the stored copies survived the restart"}},
		fault.Latency:         {{dupEvent, "the buffer's relay's confirms come after its timeout on a slow broker link: it rolls back and publishes the batch again"}},
		fault.LateRedelivery:  {{dupEvent, "the buffer's relay dies between publishing and marking and comes back past the buffer period (fault.LateBy): it publishes the entry again, which no buffer before the broker could drop"}},
		fault.NewSubscriber:   {{dupEvent, catchUpOverlap + " (the buffer's relay publishes the rows still unpublished at the binding, and the buffer keeps every row unpublished for a period first)"}},
	}
	if producerTable["dedup-buffer"] == nil {
		producerTable["dedup-buffer"] = map[string][]producerLine{}
	}
	for f, l := range lines {
		producerTable["dedup-buffer"][f] = append(producerTable["dedup-buffer"][f], l...)
	}

	// A relay batch out of order (relayLostOnWire) needs two events of one key in one batch. The
	// buffer makes such batches the rule (the relay takes everything put within one period at
	// once), and the generator draws the break in about 1 of 100 seeds of a cell under
	// broker-down: allowed, with the interleaving seeds at which RelayLostOnWireScenario shows it.
	relayLostOnWireSeeds[[2]string{"dedup-buffer", fault.PartitionBroker}] = 243
	relayLostOnWireSeeds[[2]string{"dedup-buffer", fault.BrokerDown}] = 10
	// redelivered-flag skipping the flagged copy of a newer price after the relay republished an
	// older one (the catalogue's redelivered-flag allowance), shown for this producer too.
	flag := func(f string) result.Cell {
		return result.Cell{Producer: "dedup-buffer", Consumer: "redelivered-flag", Workload: "prices", Fault: f}
	}
	mayBreakShown[flag(fault.PartitionBroker)] = "seed 2316"
	mayBreakShown[flag(fault.BrokerDown)] = "only past the generator's bound, by a schedule of 2 price changes in one relay batch with outages at the 3rd and the 13th broker operation of the run, where the generator draws up to the 6th"
}
