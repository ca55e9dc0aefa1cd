package scenarios

import (
	"fmt"
	"slices"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// The catalogue on NATS JetStream. Two mechanisms differ from RabbitMQ's, and each changes lines
// of the tables above; ExpectedWithin asks here for a cell whose Broker is history.BrokerNATS.
//
// The stream's duplicate window. Every publish carries its message id as Nats-Msg-Id, and the
// stream stores an id it has stored within strategies.Window (3 s, counted from the first store)
// only once, confirming the repeat as a duplicate. So a producer-side copy published within the
// window never reaches a consumer. Every producer's copy in producerTable is such a republish:
//
//   - a retry after a lost confirm (lost-confirm, a cut or an outage that takes the confirm,
//     a confirm late on a slow link): the publisher's confirm timeout and retry backoff (tens of
//     ms), or the outage it waits out (at most Limits.MaxDuration, 300 ms, for each of at most
//     Limits.MaxFaults, 2), are well inside the window;
//   - a relay's or tailer's republish after a crash (restart after 30 ms) or after it could
//     not mark or advance (a database link cut of at most 300 ms): inside the window too.
//
// What the window does not absorb: a copy published after it (late-redelivery: the relay comes
// back after fault.LateBy, past strategies.Window, and the stream has forgotten the id), and any
// copy the broker makes itself, a redelivery to a consumer (lost ack, crash, link cuts): the
// consumer still needs its own defence (an inbox) for those.
//
// Redelivery after the ack wait. JetStream does not return a closed connection's unacknowledged
// deliveries at once, as RabbitMQ does: each comes back when its ack wait (500 ms) runs out.
// Meanwhile the consumer, reconnected or restarted, takes the messages published after it. So
// where a fault leaves a delivery unacknowledged on a dead connection or process (natsLateFaults),
// the redelivery arrives behind newer events of its key: the consumer's reorder lines apply (a
// stale price written last; versioned skips the older credit as overtaken, a lost credit). And
// the redelivery of a message being processed comes half a second later, after the first
// consumer committed: a consumer whose check races its record (inbox-racy) or that checks
// flagged copies (redelivered-flag) now finds the record, so their concurrent-consumers
// duplicate is gone.

// natsLateFaults are the faults that leave a delivery unacknowledged on a connection or a process
// that dies, which JetStream redelivers only after the ack wait. late-redelivery keeps its
// consumer down past the ack wait, so its redelivery waits in the queue in order for it.
var natsLateFaults = []string{fault.CrashConsumer, fault.LostAck, fault.PartitionBroker, fault.BrokerDown, fault.ConcurrentConsumers}

// natsAckWait is the ack wait the simulator and the real servers use (sim.Config.AckWait).
const natsAckWait = 500 * time.Millisecond

// isNATS reports whether a cell runs on NATS JetStream.
func isNATS(c result.Cell) bool { return c.Broker == history.BrokerNATS }

// producerLinesOn is what the cell's producer does to the stream of events on its broker, with
// the notes that say what the broker absorbed. On RabbitMQ: producerTable's lines.
func producerLinesOn(c result.Cell, lim Limits) (lines []producerLine, notes []string) {
	lines = slices.Clone(producerTable[c.Producer][c.Fault])
	if !isNATS(c) {
		return lines, nil
	}
	outage := int64(max(1, lim.MaxFaults)) * int64(max(0, lim.MaxDuration))
	window := strategies.Window.Milliseconds()
	var kept []producerLine
	for _, line := range lines {
		switch {
		case line.what != dupEvent:
			kept = append(kept, line)
		case c.Fault == fault.LateRedelivery:
			kept = append(kept, producerLine{dupEvent, line.why + "; on NATS the copy comes after the stream's duplicate window of " + strategies.Window.String() + " has forgotten the id, and is stored again"})
		case outage+natsRetrySlack >= window:
			kept = append(kept, producerLine{dupEvent, fmt.Sprintf("%s; on NATS the outages these limits draw (%d faults of up to %d ms) can hold the copy past the stream's duplicate window of %s", line.why, lim.MaxFaults, lim.MaxDuration, strategies.Window)})
		default:
			notes = append(notes, fmt.Sprintf("absorbed on NATS, where RabbitMQ stores the copy (%s): the copy comes within %s of the first store (at most %d faults of up to %d ms a schedule, Limits), and the stream's duplicate window drops it by its Nats-Msg-Id", line.why, strategies.Window, lim.MaxFaults, lim.MaxDuration))
		}
	}
	return kept, notes
}

// natsRetrySlack is what a republish adds to the outages it waits out, at most: a publisher's
// confirm timeouts and backoffs (strategies.PublishRetry: 4 attempts, 50 ms timeout and 10 ms
// backoff each on the simulator), a relay's restart (30 ms) and poll (10 ms).
const natsRetrySlack = 300

// consumerLinesOn is what the cell's consumer does under its fault on its broker, with the notes
// that say what changed. On RabbitMQ: consumerTable's lines.
func consumerLinesOn(c result.Cell, lim Limits) (lines []consumerLine, notes []string) {
	lines = slices.Clone(consumerTable[c.Consumer][c.Fault])
	if !isNATS(c) {
		return lines, nil
	}
	if c.Fault == fault.ConcurrentConsumers && (c.Consumer == "inbox-racy" || c.Consumer == "redelivered-flag") {
		lines = slices.DeleteFunc(lines, func(l consumerLine) bool {
			if l.what == dupEffect {
				notes = append(notes, fmt.Sprintf("not on NATS: %s; JetStream redelivers the copy only when its ack wait (%s) runs out, after the first consumer committed, and %s finds the record", l.why, natsAckWait, c.Consumer))
				return true
			}
			return false
		})
	}
	if slices.Contains(natsLateFaults, c.Fault) {
		for _, l := range consumerTable[c.Consumer][fault.Reorder] {
			why := fmt.Sprintf("on NATS a delivery left unacknowledged by a dead connection or process comes back only when its ack wait (%s) runs out, behind newer events of its key taken meanwhile, and %s applies the older one last", natsAckWait, c.Consumer)
			if l.what == overtakenEffect {
				why = fmt.Sprintf("on NATS a delivery left unacknowledged by a dead connection or process comes back only when its ack wait (%s) runs out, behind newer events of its key taken meanwhile: %s", natsAckWait, overtaken)
			}
			lines = append(lines, consumerLine{l.what, why})
		}
	}
	return lines, notes
}

// Redeliveries inside the window. Each consumer-side redelivery on NATS waits out the ack wait,
// so a message hit on its delivery and again on its redelivery (two lost acks, two crashes, two
// dropped connections) comes back a third time about two ack waits (1 s) and a restart (30 ms)
// after dedup-window stored its record. strategies.Window (3 s) outlasts that: within
// DefaultLimits (at most 2 faults of up to 300 ms) the last copy comes at most about 1.6 s after
// the record, and it fails on the key, as on RabbitMQ. It would take six redeliveries of one
// message in a row (Limits.MaxFaults >= 6) to outlive the window; no line claims that.

// phantomOvertakes is why a consumer that skips older events may lose a committed one to a
// phantom (ExpectedWithin): on RabbitMQ the committed change is handed back behind the phantom;
// on NATS it also comes back behind it when its ack wait runs out.
func phantomOvertakes(c result.Cell) string {
	if isNATS(c) && c.Fault != fault.PartitionDB {
		return fmt.Sprintf("with a phantom and a redelivery in one schedule: %s takes a phantom price change, whose version no committed change had yet, before the committed older change that a dead connection left unacknowledged comes back after its ack wait (%s), and skips that one as older", c.Consumer, natsAckWait)
	}
	return "with a phantom and a hand-back in one schedule: " + c.Consumer + " takes a phantom price change, whose version no committed change had yet, before the committed older change handed back behind it, and skips that one as older"
}

// natsShown are the runs that show the allowances of NATS cells (mayBreakShown), seeds of the
// default generator: TestNATSMayBreakIsReachable replays them.
var natsShown = map[result.Cell]string{
	{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.BrokerDown, Broker: history.BrokerNATS}:      "seed 7",
	{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.PartitionBroker, Broker: history.BrokerNATS}: "seed 405",
}

func init() {
	for c, run := range natsShown {
		mayBreakShown[c] = run
	}
}
