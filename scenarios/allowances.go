package scenarios

import (
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/scenarios/result"
)

// The catalogue's allowances (Expectation.MayBreak) and the runs that show them: a mechanism the
// generator rarely draws, or draws only past its bounds, is allowed where a cited run shows it.
// TestMayBreakIsReachable and TestCompeteShown replay every citation.

// relayLostOnWire is how a relay's batch reaches the broker out of order.
const relayLostOnWire = "with two events of one key in one relay batch and the link dying under the first publish: the publish is written into the dead link and lost without an error, the second goes out on a new connection once the link is back, the first's confirm fails and the relay publishes the batch again, so the later event reaches the broker first"

// relayLostOnWireSeeds are the interleaving seeds at which RelayLostOnWireScenario shows it, by
// producer and fault: the cut must heal before the relay's next publish goes out, which the
// order in which the processes run decides.
var relayLostOnWireSeeds = map[[2]string]uint64{
	{"outbox", fault.PartitionBroker}:      61,
	{"outbox", fault.BrokerDown}:           3,
	{"log-tailing", fault.PartitionBroker}: 5,
	{"log-tailing", fault.BrokerDown}:      0,
}

// relayLostOnWireShown is how a reason cites RelayLostOnWireScenario.
func relayLostOnWireShown(c result.Cell) string {
	return fmt.Sprintf("a schedule of two events of one key in one relay batch, cut at the relay's first publish (at amqp.publish) for 1 ms, interleaving seed %d", relayLostOnWireSeeds[[2]string{c.Producer, c.Fault}])
}

// RelayLostOnWireScenario is the run that shows a relay batch out of order in a cell that allows
// it (TestMayBreakIsReachable replays it): two events of one key in one relay batch, the relay's
// link (or the broker, for broker-down) cut under its first publish for 1 ms. The generator draws
// no cut pinned to a publish. ok is false for a cell without the allowance.
func RelayLostOnWireScenario(c result.Cell) (sc history.Scenario, ok bool) {
	seed, ok := relayLostOnWireSeeds[[2]string{c.Producer, c.Fault}]
	if !ok || !skipsRepeats(c.Consumer) {
		return history.Scenario{}, false
	}
	cmds := []history.Message{
		{ID: "price-1", Key: "sku-1", Amount: 101, Seq: 1, Kind: "ProductPriceChanged"},
		{ID: "price-2", Key: "sku-1", Amount: 102, Seq: 2, Kind: "ProductPriceChanged"},
	}
	if workload.EffectOf(c.Workload) == workload.Add {
		cmds = []history.Message{
			{ID: "txn-1", Key: "acct-A", Amount: 10, Seq: 1, Kind: "AccountCredited"},
			{ID: "txn-2", Key: "acct-A", Amount: 20, Seq: 2, Kind: "AccountCredited"},
		}
	}
	target := "relay"
	if c.Fault == fault.BrokerDown {
		target = "" // everyone; pinned to the first publish, which is the relay's
	}
	return history.Scenario{
		Producer: c.Producer, Consumer: c.Consumer, Workload: c.Workload, Fault: c.Fault, Seed: seed,
		Commands:  cmds,
		Faults:    []history.Fault{{Kind: c.Fault, Target: target, Point: fault.SitePublish, Nth: 1, Duration: 1}},
		Consumers: 1, Prefetch: 1, Batch: 2,
	}, true
}

// skipsRepeats reports whether a consumer skips a repeat of an event it applied (by its id, or
// by its version): after a relay batch out of order it keeps the older event it applied last. A
// consumer that applies every copy takes the batch's second copy of the later event last.
func skipsRepeats(consumer string) bool {
	return slices.Contains([]string{"inbox", "inbox-racy", "idempotency-key", "versioned", "dedup-window"}, consumer)
}

// competeRun is a run that shows a rare mechanism of competing consumers (competeLines): a seed
// of the generator drawn with Limits.MaxConsumers = consumers (DefaultLimits otherwise), or,
// where schedule is set, that schedule of an exhaustive exploration within (2 commands, 1 fault,
// consumers, interleavings).
type competeRun struct {
	consumers     int
	seed          uint64
	schedule      int
	interleavings int
}

// bounds are the exhaustive bounds within which a schedule is cited.
func (r competeRun) bounds() Bounds {
	return Bounds{MaxCommands: 2, MaxFaults: 1, MaxConsumers: r.consumers, Interleavings: r.interleavings}
}

func (r competeRun) String() string {
	if r.schedule > 0 {
		return fmt.Sprintf("schedule %d of an exhaustive exploration within %s", r.schedule, r.bounds())
	}
	return fmt.Sprintf("seed %d with Limits.MaxConsumers %d", r.seed, r.consumers)
}

// competeShown cites, for each cell where competing consumers may break what one consumer keeps
// only in rare draws (competeLines), a run that shows it: with 2 consumers where one of the first
// 1,000 seeds or an exhaustive exploration within (2 commands, 1 fault, 2 consumers, 1 or 4
// interleavings) shows it, else with 3. TestCompeteShown replays each. A cell without a row
// claims that the mechanism holds within its bounds: no seed of 1,000 with 2 or 3 consumers and
// no schedule within those bounds shows it (lost-confirm everywhere, most crash-relay cells,
// outbox under partition-db, double-write and publish-first on orders under latency, and
// versioned under broker-down and broker-restart).
var competeShown = map[result.Cell]competeRun{
	{Producer: "double-write", Consumer: "inbox-racy", Workload: "credits", Fault: fault.Latency}:          {consumers: 3, seed: 588},
	{Producer: "double-write", Consumer: "inbox-racy", Workload: "credits", Fault: fault.PartitionBroker}:  {consumers: 2, seed: 904},
	{Producer: "double-write", Consumer: "inbox-racy", Workload: "emails", Fault: fault.PartitionBroker}:   {consumers: 2, schedule: 244, interleavings: 4},
	{Producer: "double-write", Consumer: "inbox-racy", Workload: "orders", Fault: fault.PartitionBroker}:   {consumers: 2, schedule: 244, interleavings: 4},
	{Producer: "publish-first", Consumer: "inbox-racy", Workload: "credits", Fault: fault.Latency}:         {consumers: 2, seed: 463},
	{Producer: "publish-first", Consumer: "inbox-racy", Workload: "credits", Fault: fault.PartitionBroker}: {consumers: 2, seed: 904},
	{Producer: "publish-first", Consumer: "inbox-racy", Workload: "emails", Fault: fault.PartitionBroker}:  {consumers: 2, schedule: 244, interleavings: 4},
	{Producer: "publish-first", Consumer: "inbox-racy", Workload: "orders", Fault: fault.PartitionBroker}:  {consumers: 2, schedule: 244, interleavings: 4},
	{Producer: "outbox", Consumer: "inbox-racy", Workload: "credits", Fault: fault.Latency}:                {consumers: 2, seed: 769},
	{Producer: "outbox", Consumer: "inbox-racy", Workload: "emails", Fault: fault.CrashRelay}:              {consumers: 2, seed: 480},
	{Producer: "outbox", Consumer: "inbox-racy", Workload: "emails", Fault: fault.PartitionBroker}:         {consumers: 2, seed: 285},
	{Producer: "outbox", Consumer: "inbox-racy", Workload: "orders", Fault: fault.CrashRelay}:              {consumers: 2, seed: 480},
	{Producer: "outbox", Consumer: "inbox-racy", Workload: "orders", Fault: fault.Latency}:                 {consumers: 2, seed: 535},
	{Producer: "outbox", Consumer: "inbox-racy", Workload: "orders", Fault: fault.PartitionBroker}:         {consumers: 2, seed: 285},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "credits", Fault: fault.CrashRelay}:        {consumers: 3, seed: 479},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "credits", Fault: fault.Latency}:           {consumers: 2, seed: 317},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "credits", Fault: fault.PartitionBroker}:   {consumers: 2, seed: 177},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "credits", Fault: fault.PartitionDB}:       {consumers: 2, schedule: 787, interleavings: 4},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "emails", Fault: fault.PartitionBroker}:    {consumers: 2, schedule: 244, interleavings: 4},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "orders", Fault: fault.Latency}:            {consumers: 2, seed: 651},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "orders", Fault: fault.PartitionBroker}:    {consumers: 2, schedule: 244, interleavings: 4},
	{Producer: "log-tailing", Consumer: "inbox-racy", Workload: "orders", Fault: fault.PartitionDB}:        {consumers: 2, schedule: 787, interleavings: 4},
	{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.CrashProducer}:     {consumers: 2, seed: 8},
	{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.Latency}:           {consumers: 2, seed: 243},
	{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.PartitionBroker}:   {consumers: 2, seed: 168},
}

// mayBreakShown cites, for each allowance (Expectation.MayBreak), the run that shows it: a seed
// of the default generator, or a schedule built by hand where the break lies past the generator's
// bounds. TestMayBreakIsReachable replays each one and fails for an allowance without a run.
var mayBreakShown = map[result.Cell]string{
	{Producer: "outbox", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}:         "seed 499",
	{Producer: "log-tailing", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}:    "seed 499",
	{Producer: "outbox-offset", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}:  "seed 499",
	{Producer: "outbox-fenced", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}:  "seed 499",
	{Producer: "event-sourcing", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}: "seed 499",
	{Producer: "dedup-buffer", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery, Broker: history.BrokerNATS}:   "seed 2084",
	{Producer: "outbox", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery}:                                     "seed 499",
	{Producer: "log-tailing", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery}:                                "seed 499",
	{Producer: "outbox-offset", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery}:                              "seed 499",
	{Producer: "outbox-fenced", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery}:                              "seed 499",
	{Producer: "event-sourcing", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery}:                             "seed 499",
	{Producer: "dedup-buffer", Consumer: "dedup-window", Workload: "prices", Fault: fault.LateRedelivery}:                               "seed 2084",
	{Producer: "publish-first", Consumer: "versioned", Workload: "prices", Fault: fault.PartitionDB}:                                    "seed 29",
	{Producer: "outbox", Consumer: "redelivered-flag", Workload: "prices", Fault: fault.PartitionBroker}:                                "seed 87",
	{Producer: "log-tailing", Consumer: "redelivered-flag", Workload: "prices", Fault: fault.PartitionBroker}:                           "only past the generator's bound, by a schedule of 2 price changes in one batch with cuts of 1 ms at the relay's 2nd and consumer-1's 7th broker operation, where the generator draws up to the 6th",
	{Producer: "outbox", Consumer: "redelivered-flag", Workload: "prices", Fault: fault.BrokerDown}:                                     "only past the generator's bound, by a schedule of 2 price changes in one relay batch with outages at the 2nd and the 12th broker operation of the run, where the generator draws up to the 6th",
	{Producer: "log-tailing", Consumer: "redelivered-flag", Workload: "prices", Fault: fault.BrokerDown}:                                "only past the generator's bound, by a schedule of 2 price changes in one batch with outages at the 2nd and the 12th broker operation of the run, where the generator draws up to the 6th",
}
