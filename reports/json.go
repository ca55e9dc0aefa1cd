package reports

import (
	"encoding/json"
	"io"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

// JSONReport is the document JSON writes. Its types are the one definition of the JSON output:
// their field names are the CLI contract (DESIGN.md), the results they are made from
// (scenarios/result) carry no JSON names of their own, and a reader decodes into these types.
type JSONReport struct {
	Cells []JSONCell `json:"cells"`
}

// JSONCell is one cell's result.
type JSONCell struct {
	Producer   string                  `json:"producer"`
	Consumer   string                  `json:"consumer"`
	Workload   string                  `json:"workload"`
	Fault      string                  `json:"fault"`
	Broker     string                  `json:"broker,omitempty"` // left out for RabbitMQ (result.Cell.Broker)
	Backend    string                  `json:"backend"`
	Runs       int                     `json:"runs"`
	Violations map[invariants.Name]int `json:"violations"` // invariant -> runs that broke it
	Broken     []invariants.Name       `json:"broken"`     // invariants broken at least once, catalogue order
	Expected   []invariants.Name       `json:"expected"`
	MayBreak   []invariants.Name       `json:"may_break,omitempty"` // allowed: reachable, rarely drawn
	Reason     string                  `json:"reason"`
	Matches    bool                    `json:"matches"`
	Errors     int                     `json:"errors"` // runs that did not settle
	// Rates is, per invariant, the share of runs that broke it (0 to 1).
	Rates map[invariants.Name]float64 `json:"rates"`
	// Searched and FoundBySearch: the runs past Runs spent looking for an expected break, and
	// for each invariant they broke that the first Runs did not, expected or not, the first seed
	// that broke it (not counted in violations or rates; errors counts their harness failures).
	Searched      int                        `json:"searched,omitempty"`
	FoundBySearch map[invariants.Name]uint64 `json:"found_by_search,omitempty"`
	// Cost is what the runs measured of the strategies' price (see result.Cost).
	Cost *result.Cost `json:"cost,omitempty"`
	// Coverage is, per role (producer, relay, consumer), the fault points the strategies declare,
	// those some run reached (with the runs that reached each and the times they passed it) and
	// those no run reached.
	Coverage result.Coverage `json:"coverage,omitempty"`
	// Explored, Exhausted and Bounds are an exhaustive exploration's (--explore exhaustive): the
	// schedules run (each one run), whether they were every schedule within the bounds, and the
	// bounds. All three are left out under random sampling.
	Explored       int                 `json:"explored,omitempty"`
	Exhausted      *bool               `json:"exhausted,omitempty"`
	Bounds         *result.Bounds      `json:"bounds,omitempty"`
	Counterexample *JSONCounterexample `json:"counterexample"`
}

// JSONCounterexample is a counterexample without its raw history: the seed, the shrunk scenario
// and its fault schedule, the violations without their evidence, and the numbered timeline lines.
type JSONCounterexample struct {
	Seed       uint64           `json:"seed"`
	Invariant  invariants.Name  `json:"invariant"`
	Scenario   history.Scenario `json:"scenario"`
	Schedule   []history.Fault  `json:"schedule"`
	Violations []JSONViolation  `json:"violations"`
	Replay     string           `json:"replay"` // the command that replays the seed (or the schedule)
	// ScheduleIndex is, for an exhaustive exploration's counterexample, its schedule's 1-based
	// index within the cell's bounds (`replay --schedule N`).
	ScheduleIndex int `json:"schedule_index,omitempty"`
	// Bounds are, with ScheduleIndex, the bounds the schedule was enumerated within, so that the
	// counterexample alone (`replay --scenario`) names the schedule that rebuilds it.
	Bounds   *result.Bounds `json:"bounds,omitempty"`
	Timeline []string       `json:"timeline"` // the numbered lines of the text timeline
}

// JSONViolation is a violation without its evidence (the timeline shows it).
type JSONViolation struct {
	Invariant invariants.Name `json:"invariant"`
	Key       string          `json:"key,omitempty"`
	Msgs      []string        `json:"msgs,omitempty"`
	Detail    string          `json:"detail"`
}

// NewJSONReport converts results into the JSON document; slices and maps are never null, except
// a missing counterexample.
func NewJSONReport(results []result.CellResult) JSONReport {
	rep := JSONReport{Cells: make([]JSONCell, 0, len(results))}
	for _, r := range results {
		c := JSONCell{
			Producer:   r.Producer,
			Consumer:   r.Consumer,
			Workload:   r.Workload,
			Fault:      r.Fault,
			Broker:     r.Broker,
			Backend:    r.Backend,
			Runs:       r.Runs,
			Violations: make(map[invariants.Name]int, len(r.Violations)),
			Broken:     broken(r),
			Expected:   append([]invariants.Name{}, r.Expected...),
			MayBreak:   r.MayBreak,
			Reason:     r.Reason,
			Matches:    r.Matches,
			Errors:     r.Errors,
			Rates:      make(map[invariants.Name]float64, len(r.Violations)),
			Searched:   r.Searched,
			Cost:       r.Cost,
			Coverage:   r.Coverage,
		}
		for k, v := range r.Violations {
			c.Violations[k] = v
			c.Rates[k] = rate(v, r.Runs)
		}
		if len(r.FoundBySearch) > 0 {
			c.FoundBySearch = r.FoundBySearch
		}
		if r.Bounds != nil {
			exhausted := r.Exhausted
			c.Explored, c.Exhausted, c.Bounds = r.Explored, &exhausted, r.Bounds
		}
		if c.Broken == nil {
			c.Broken = []invariants.Name{}
		}
		if ce := r.Counterexample; ce != nil {
			t := buildTimeline(ce, r.Cell(), TimelineOptions{})
			jc := &JSONCounterexample{
				Seed:          ce.Seed,
				Invariant:     ce.Invariant,
				Scenario:      ce.Scenario,
				Schedule:      append([]history.Fault{}, ce.Scenario.Faults...),
				Violations:    make([]JSONViolation, len(ce.Violations)),
				Replay:        t.replay[0],
				ScheduleIndex: ce.Schedule,
				Bounds:        ce.Bounds,
				Timeline:      append([]string{}, t.rows...),
			}
			for i, v := range ce.Violations {
				jc.Violations[i] = JSONViolation{Invariant: v.Invariant, Key: v.Key, Msgs: v.Msgs, Detail: v.Detail}
			}
			c.Counterexample = jc
		}
		rep.Cells = append(rep.Cells, c)
	}
	return rep
}

// rate is the share of runs that broke an invariant, rounded to three decimals.
func rate(n, runs int) float64 {
	if runs == 0 {
		return 0
	}
	return float64(n*1000/runs) / 1000
}

// JSON writes results as indented JSON: {"cells": [...]}, each cell with its producer, consumer,
// workload, fault, backend, runs, violations (invariant -> runs that broke it), rates, broken,
// expected, reason, matches, errors, cost, coverage and counterexample (null, or the seed, the invariant, the shrunk
// scenario, its schedule, the violations without evidence, the replay command and the timeline).
// Map keys are sorted, so the output is deterministic.
func JSON(w io.Writer, results []result.CellResult) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // the timeline's "<==" markers stay readable
	return enc.Encode(NewJSONReport(results))
}
