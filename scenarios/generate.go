package scenarios

import (
	"math/rand/v2"
	"slices"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// Source is where a generator's choices come from: a seeded PRNG for the CLI (so a seed names a
// scenario), or rapid's draws in the property tests (scenariotest; so failures shrink).
type Source interface {
	// IntRange returns a number in [lo, hi]; smaller is simpler.
	IntRange(label string, lo, hi int) int
}

// SeedSource draws from a PCG seeded with seed: the same seed, the same scenario.
type SeedSource struct{ r *rand.Rand }

// NewSeedSource returns the source for seed.
func NewSeedSource(seed uint64) *SeedSource {
	return &SeedSource{r: rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))}
}

// IntRange implements Source.
func (s *SeedSource) IntRange(_ string, lo, hi int) int {
	if hi <= lo {
		return lo
	}
	return lo + s.r.IntN(hi-lo+1)
}

// Limits bound what the generator draws.
type Limits struct {
	MaxCommands int // business commands per scenario
	MaxKeys     int // accounts (credits) or products (prices)
	MaxFaults   int // faults of the cell's kind in one schedule
	MaxDuration int // milliseconds a cut or an outage lasts at most
	// MaxConsumers, when above zero, makes every kind draw its competing consumers between the
	// kind's minimum and MaxConsumers (exhaustive exploration's concurrency bound). Zero keeps the
	// kind's own draw (Bound.ExtraConsumers), so seeded scenarios do not change.
	MaxConsumers int
}

// DefaultLimits are the catalogue's: small scenarios find every known break quickly and shrink
// well; `simulate run --commands` raises them.
var DefaultLimits = Limits{MaxCommands: 5, MaxKeys: 2, MaxFaults: 2, MaxDuration: 300}

// Commands generates n business commands of the named workload (its command generator) over at
// most keys business keys; none for a name outside the catalogue.
func Commands(src Source, name string, n, keys int) []history.Message {
	w, err := workload.Lookup(name)
	if err != nil {
		return nil
	}
	cmds := w.Commands(src, n, keys)
	out := make([]history.Message, len(cmds))
	for i, c := range cmds {
		out[i] = history.Message{ID: c.ID, Key: c.Key, Amount: c.Amount, Seq: c.Seq, Kind: c.Kind}
	}
	return out
}

// Generate draws a scenario for a cell: commands, topology, and a schedule of one or more faults
// of the cell's kind on targets, points and moments the source picks.
func Generate(src Source, c result.Cell, lim Limits) (history.Scenario, error) {
	p, err := strategies.LookupProducer(c.Producer)
	if err != nil {
		return history.Scenario{}, err
	}
	cons, err := strategies.LookupConsumer(c.Consumer)
	if err != nil {
		return history.Scenario{}, err
	}
	sc, err := GenerateFor(src, p, cons, c.Workload, c.Fault, lim)
	if err != nil {
		return sc, err
	}
	sc.Broker, err = brokerOf(c)
	return sc, err
}

// GenerateFor draws a scenario for strategies given as values, registered or not: the same
// draws as Generate, with the cell named after the strategies.
func GenerateFor(src Source, p strategies.Producer, cons strategies.Consumer, workload, faultKind string, lim Limits) (history.Scenario, error) {
	c := result.Cell{Producer: p.Name(), Consumer: cons.Name(), Workload: workload, Fault: faultKind}
	k, err := fault.Lookup(c.Fault)
	if err != nil {
		return history.Scenario{}, err
	}
	if err := harness.ValidateWorkload(c.Workload); err != nil {
		return history.Scenario{}, err
	}
	relay, hasRelay := p.(strategies.Relay)
	if err := k.Possible(hasRelay); err != nil {
		return history.Scenario{}, err
	}
	n := src.IntRange("commands", 1, max(1, lim.MaxCommands))
	keys := src.IntRange("keys", 1, max(1, lim.MaxKeys))
	sc := history.Scenario{
		Producer: c.Producer, Consumer: c.Consumer, Workload: c.Workload, Fault: c.Fault,
		Commands: Commands(src, c.Workload, n, keys),
	}
	sc.Consumers = k.Consumers
	switch {
	case lim.MaxConsumers > 0:
		sc.Consumers = src.IntRange("consumers", k.Consumers, max(k.Consumers, lim.MaxConsumers))
	case k.Bound.ExtraConsumers > 0:
		sc.Consumers = src.IntRange("consumers", k.Consumers, k.Consumers+k.Bound.ExtraConsumers)
	}
	sc.Prefetch = src.IntRange("prefetch", max(1, k.Prefetch), 3)
	if hasRelay {
		sc.Batch = src.IntRange("batch", 1, 3)
	}
	pointsOf := func(target string) []string {
		switch {
		case target == "producer":
			return p.Points()
		case target == "relay":
			return relay.RelayPoints()
		}
		return cons.Points()
	}
	if k.Name != fault.None {
		topo := harness.Topology(sc, p)
		targets := k.Targets(topo)
		if k.AtPoint() {
			// A crash needs a fault point: a process whose strategy declares none is no target.
			targets = slices.DeleteFunc(targets, func(t string) bool { return len(pointsOf(t)) == 0 })
		}
		nf := src.IntRange("faults", 1, max(1, lim.MaxFaults))
		for range nf {
			if len(targets) == 0 {
				break // nothing can be hit: the run goes without the fault
			}
			f := history.Fault{Kind: k.Name, Target: targets[src.IntRange("target", 0, len(targets)-1)]}
			if k.AtPoint() {
				points := pointsOf(f.Target)
				f.Point = points[src.IntRange("point", 0, len(points)-1)]
			}
			if k.OnLink() {
				links := fault.Links(f.Target, topo)
				f.Link = links[src.IntRange("link", 0, len(links)-1)]
			}
			f.Nth = src.IntRange("nth", 1, k.Bound.Nth(n))
			if k.Bound.Lasts {
				f.Duration = src.IntRange("duration", 1, max(1, lim.MaxDuration))
			}
			sc.Faults = append(sc.Faults, f)
		}
	}
	sc.Seed = uint64(src.IntRange("interleaving", 0, 1<<30))
	// The protocol site a fault is pinned to, where its kind has sites that change what it does
	// (fault.Kind.Sites): drawn last, so that the draws above are those of a kind without sites.
	for i := range sc.Faults {
		if sites := k.Sites; len(sites) > 0 {
			if j := src.IntRange("site", 0, len(sites)); j > 0 {
				sc.Faults[i].Point = sites[j-1]
			}
		}
	}
	return sc, nil
}

// FromSeed is the scenario the CLI runs for a seed: `simulate replay --seed S` rebuilds it.
func FromSeed(c result.Cell, seed uint64, lim Limits) (history.Scenario, error) {
	sc, err := Generate(NewSeedSource(seed), c, lim)
	if err != nil {
		return sc, err
	}
	sc.Seed = seed
	return sc, nil
}
