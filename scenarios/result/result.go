// Package result is the plain data of a cell's runs: the Cell, its CellResult compared with the
// catalogue, the shrunk Counterexample and the Cost the runs measured. It is all that package
// reports reads, so that a renderer (or a team's own tool reading the JSON) needs no simulator.
//
// It holds data and the questions asked of it (Broken, Unexpected, Missing), nothing that runs a
// scenario. It imports only the standard library, the history vocabulary (harness/history) and
// the invariants' names and Violation; it must not import harness, its backends, scenarios or
// reports.
package result

import (
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
)

// Cell is one entry of the catalogue: a producer, a consumer, a workload and a fault kind, on a
// broker.
type Cell struct {
	Producer string `json:"producer"`
	Consumer string `json:"consumer"`
	Workload string `json:"workload"`
	Fault    string `json:"fault"`
	// Broker is the broker the cell runs against (history.Brokers): "" is RabbitMQ, so that every
	// cell and output written before there was a choice stays as it was.
	Broker string `json:"broker,omitempty"`
}

// String renders the cell as producer/consumer/workload/fault, with "@broker" after it on a
// broker other than RabbitMQ.
func (c Cell) String() string {
	s := fmt.Sprintf("%s/%s/%s/%s", c.Producer, c.Consumer, c.Workload, c.Fault)
	if c.Broker != "" && c.Broker != history.BrokerRabbitMQ {
		s += "@" + c.Broker
	}
	return s
}

// BrokerName is the cell's broker by name: RabbitMQ where it names none.
func (c Cell) BrokerName() string {
	if c.Broker == "" {
		return history.BrokerRabbitMQ
	}
	return c.Broker
}

// CellResult is a cell run over many seeds, compared with the catalogue's expectation. It is
// data, not a document: its JSON form, whose field names are the CLI contract (DESIGN.md, "The
// CLI contract"), is package reports' JSONCell, the one definition of those fields.
type CellResult struct {
	Producer       string
	Consumer       string
	Workload       string
	Fault          string
	Broker         string `json:",omitempty"` // "" for RabbitMQ (Cell.Broker); left out of a shard's JSON then, as before there was a choice
	Backend        string
	Runs           int
	Violations     map[invariants.Name]int // invariant -> runs that broke it (every applicable invariant is present)
	Expected       []invariants.Name       // invariants the catalogue expects to break
	MayBreak       []invariants.Name       // allowed to break: reachable, rarely drawn
	Reason         string                  // why, from the strategies' mechanics
	Matches        bool                    // the broken set, the search's included, agrees with the catalogue, and every run settled
	Counterexample *Counterexample
	// Errors counts the runs the harness itself failed (no quiescence), the searched seeds' included.
	Errors int
	// Searched counts the runs after Runs spent looking for an expected break the first Runs did
	// not draw. FoundBySearch names, for each invariant those runs broke and the first Runs did
	// not, the first seed that broke it: the break looked for, or one the catalogue rules out
	// (then the cell does not match). Neither counts in Violations.
	Searched int
	// Cost is what the first Runs measured of the strategies' price (Cost's doc).
	Cost          *Cost
	FoundBySearch map[invariants.Name]uint64
	// Coverage is, per role, the fault points the cell's strategies declare and those its runs
	// (the first Runs and the searched ones) reached; nil when it was not measured.
	Coverage Coverage
	// Explored is, under exhaustive exploration (Bounds not nil), how many schedules the cell ran:
	// each one run, so Runs equals it. Exhausted says they were every schedule within Bounds;
	// false when a limit on the number of schedules, or a cancellation, stopped the exploration
	// first. Both are zero under random sampling.
	Explored  int
	Exhausted bool
	// Bounds are the bounds of an exhaustive exploration; nil under random sampling.
	Bounds *Bounds
}

// Bounds are what an exhaustive exploration enumerates within: every schedule of at most
// MaxCommands commands and MaxFaults faults of the cell's kind, with up to MaxConsumers competing
// consumers (never fewer than the kind needs), each run with Interleavings interleaving seeds
// (1, 2, ...). The choices outside the fault model are pinned (scenarios.Enumerate).
type Bounds struct {
	MaxCommands   int `json:"max_commands"`
	MaxFaults     int `json:"max_faults"`
	MaxConsumers  int `json:"max_consumers"` // 0: the fault kind's minimum
	Interleavings int `json:"interleavings"`
}

// String renders the bounds as a report states them, e.g. "commands <= 1, faults <= 1,
// consumers <= the kind's minimum, 1 interleaving".
func (b Bounds) String() string {
	cons := "the kind's minimum"
	if b.MaxConsumers > 0 {
		cons = fmt.Sprint(b.MaxConsumers)
	}
	il := "interleavings"
	if b.Interleavings == 1 {
		il = "interleaving"
	}
	return fmt.Sprintf("commands <= %d, faults <= %d, consumers <= %s, %d %s", b.MaxCommands, b.MaxFaults, cons, b.Interleavings, il)
}

// Cell returns the cell of a result.
func (r CellResult) Cell() Cell {
	return Cell{Producer: r.Producer, Consumer: r.Consumer, Workload: r.Workload, Fault: r.Fault, Broker: r.Broker}
}

// Broken lists the invariants broken in at least one run, the search's included, in catalogue
// order; a team's own invariants (Options.Invariants) come last, sorted.
func (r CellResult) Broken() []invariants.Name {
	var vs []invariants.Violation // one per broken name: invariants.Broken orders them
	for name, n := range r.Violations {
		if n > 0 {
			vs = append(vs, invariants.Violation{Invariant: name})
		}
	}
	for name := range r.FoundBySearch {
		vs = append(vs, invariants.Violation{Invariant: name})
	}
	return invariants.Broken(vs)
}

// Counterexample is the smallest failing scenario found for a cell: the seed that first failed,
// the shrunk scenario (its schedule included), the violations and the run's history, which
// renders as a timeline. `simulate replay` reproduces it from either the seed or the scenario.
type Counterexample struct {
	Seed       uint64                 `json:"seed"`      // the seed whose scenario first failed
	Invariant  invariants.Name        `json:"invariant"` // the invariant it was shrunk for
	Scenario   history.Scenario       `json:"scenario"`  // shrunk: commands, schedule, topology
	Violations []invariants.Violation `json:"violations"`
	History    *history.History       `json:"history"`
	AsDrawn    bool                   `json:"as_drawn,omitempty"` // not shrunk: the scenario as the seed drew it
	// Schedule is, for a counterexample of an exhaustive exploration, its scenario's 1-based index
	// among the schedules Bounds enumerate: `simulate replay --schedule N` with the same bounds
	// rebuilds it. Zero (and Bounds nil) for a seed's counterexample.
	Schedule int     `json:"schedule,omitempty"`
	Bounds   *Bounds `json:"bounds,omitempty"`
	// File is, for a scenario read from a file (`simulate replay --scenario`) that neither a seed
	// nor a schedule is known to rebuild (a shrunk or hand-written one), that file: the only
	// command that replays it is `simulate replay --scenario File`. Empty otherwise.
	File string `json:"file,omitempty"`
}

// Unexpected lists the invariants broken here that the catalogue neither expects nor allows: a
// contradiction between the harness and the catalogue's reasoning, to investigate.
func (r CellResult) Unexpected() []invariants.Name {
	var out []invariants.Name
	for _, name := range r.Broken() {
		if !slices.Contains(r.Expected, name) && !slices.Contains(r.MayBreak, name) {
			out = append(out, name)
		}
	}
	return out
}

// Missing lists the invariants the catalogue expects to break here that no run broke: with few
// seeds, a rarer mechanism may simply not have been drawn.
func (r CellResult) Missing() []invariants.Name {
	var out []invariants.Name
	for _, name := range r.Expected {
		if _, found := r.FoundBySearch[name]; r.Violations[name] == 0 && !found {
			out = append(out, name)
		}
	}
	return out
}

// Cost is what a cell's runs say about the price of its strategies, read from their histories:
// the database statements and broker operations each committed event took (the same measure on
// both backends), the time from an event's business COMMIT to its effect, and, on real servers,
// the events per second. Faults and retries are included: the cost of a strategy under the fault.
//
// On real servers every operation of a worker waits for the parent's go-ahead, so absolute times
// are the harness's; compare strategies with each other, and use the benchmarks for absolute
// figures. On the simulator times are simulated milliseconds and there is no throughput.
type Cost struct {
	Events       int     `json:"committed_events"`     // committed business events over the runs
	DBStatements float64 `json:"db_statements"`        // per committed event: statements and COMMITs, slot reads and advances
	BrokerOps    float64 `json:"broker_ops"`           // per committed event: publishes, confirms awaited, receives, acks, nacks
	LatencyP50   float64 `json:"latency_p50_ms"`       // business COMMIT to effect committed (or email sent)
	LatencyP99   float64 `json:"latency_p99_ms"`       //
	Throughput   float64 `json:"throughput,omitempty"` // events per second, first command to last effect (real servers)
}

// Coverage is, for each role of a cell's processes that declares fault points (producer, relay,
// consumer, in that order), the points declared, those the cell's runs reached, how many runs
// reached each and how many times in all they passed it.
type Coverage []RoleCoverage

// RoleCoverage is one role's fault points: those its strategy declares (Points, RelayPoints), in
// declaration order, split into the ones some run passed and the ones no run did, with, for each
// point reached, the runs that passed it and the times they passed it.
type RoleCoverage struct {
	Role      string   `json:"role"`
	Declared  []string `json:"declared"`
	Reached   []string `json:"reached"`
	Unreached []string `json:"unreached"`
	// Runs is how many runs the counts are of: the cell's settled runs, its first and its
	// searched ones (a run the harness failed is not counted); 0 where runs were not counted.
	Runs int `json:"runs"`
	// RunsReached is, for each point of Reached, the runs that passed it at least once (any
	// process of the role, any number of times).
	RunsReached map[string]int `json:"runs_reached"`
	// Passes is, for each point of Reached, the times the role's processes passed it over those
	// runs, all passes of every run counted (at least RunsReached's count); a point is left out
	// where the runs' histories did not count their passes (History.Reached written before).
	Passes map[string]int `json:"passes"`
}

// Unreached is the roles with a point no run reached, each with only those points; nil when
// every declared point was reached.
func (c Coverage) Unreached() Coverage {
	var out Coverage
	for _, rc := range c {
		if len(rc.Unreached) > 0 {
			out = append(out, RoleCoverage{Role: rc.Role, Unreached: rc.Unreached})
		}
	}
	return out
}
