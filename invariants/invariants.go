package invariants

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

// Name is an invariant's catalogue name: a contract with the CLI, the reports (the keys of a
// JSON cell's violations) and outside checks.
type Name string

// The catalogue's names, in catalogue order.
const (
	NoDuplicateEffect Name = "no-duplicate-effect"
	NoLostEffect      Name = "no-lost-effect"
	NoPhantomEffect   Name = "no-phantom-effect"
	Converges         Name = "converges"
	Balance           Name = "balance"
)

// Join joins names with sep, as strings.Join joins strings.
func Join(names []Name, sep string) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = string(n)
	}
	return strings.Join(parts, sep)
}

// Violation is a broken invariant with its witness. It is a result, never an error.
type Violation struct {
	Invariant Name            `json:"invariant"`
	Key       string          `json:"key,omitempty"`      // business key: order id, account, product
	Msgs      []string        `json:"msgs,omitempty"`     // message ids involved, sorted
	Detail    string          `json:"detail"`             // one readable line
	Evidence  []history.Event `json:"evidence,omitempty"` // the events about Msgs, in time order
}

// Checker is one invariant of the catalogue.
type Checker interface {
	Name() Name
	// Doc is one line.
	Doc() string
	// Applies reports whether the invariant holds by design for a workload whose effect is of
	// this kind ("" for a workload outside the catalogue: none applies).
	Applies(effect workload.Effect) bool
	// Check judges h. The violations are sorted by key, then message ids.
	Check(h *history.History) []Violation
}

// checker is what every catalogue entry implements besides Checker: a check on shared state, so
// that Check builds the maps of a history once for all checkers.
type checker interface {
	Checker
	run(s *state) []Violation
}

// catalogue is the list of invariants in catalogue order. A new invariant is one file plus one
// line here.
var catalogue = []checker{noDuplicateEffect{}, noLostEffect{}, noPhantomEffect{}, converges{}, balance{}, noGhostMessage{}, sameOutput{}}

// All returns every invariant in catalogue order.
func All() []Checker {
	out := make([]Checker, len(catalogue))
	for i, c := range catalogue {
		out[i] = c
	}
	return out
}

// Names lists the invariant names in catalogue order.
func Names() []Name {
	out := make([]Name, len(catalogue))
	for i, c := range catalogue {
		out[i] = c.Name()
	}
	return out
}

// Lookup finds an invariant by its catalogue name.
func Lookup(name Name) (Checker, error) {
	for _, c := range catalogue {
		if c.Name() == name {
			return c, nil
		}
	}
	known := make([]string, len(catalogue))
	for i, c := range catalogue {
		known[i] = string(c.Name())
	}
	return nil, fmt.Errorf("unknown invariant %q (known: %s)", name, strings.Join(known, ", "))
}

// For returns the invariants that apply to the named workload, by its effect kind, in catalogue
// order; none for a name outside the catalogue.
func For(name string) []Checker {
	var out []Checker
	for _, c := range catalogue {
		if applies(c, name) {
			out = append(out, c)
		}
	}
	return out
}

// Check runs every invariant that applies to h's workload, in catalogue order, and returns their
// violations: each checker's in its own order (key, then message ids), one checker after another.
func Check(h *history.History) []Violation {
	if h == nil {
		return nil
	}
	s := newState(h)
	defer s.release()
	var out []Violation
	for _, c := range catalogue {
		if applies(c, h.Scenario.Workload) {
			out = append(out, c.run(s)...)
		}
	}
	return out
}

// Broken returns the distinct invariant names among vs, in catalogue order. Names outside the
// catalogue come last, sorted.
func Broken(vs []Violation) []Name {
	seen := make(map[Name]bool)
	for _, v := range vs {
		seen[v.Invariant] = true
	}
	var out []Name
	for _, c := range catalogue {
		if seen[c.Name()] {
			out = append(out, c.Name())
			delete(seen, c.Name())
		}
	}
	if len(seen) > 0 {
		rest := make([]Name, 0, len(seen))
		for name := range seen {
			rest = append(rest, name)
		}
		slices.Sort(rest)
		out = append(out, rest...)
	}
	return out
}

// check runs one checker alone on h.
func check(c checker, h *history.History) []Violation {
	if h == nil {
		return nil
	}
	s := newState(h)
	defer s.release()
	return c.run(s)
}

// state is a history indexed once: the final reads by message id and by key.
type state struct {
	h      *history.History
	effect workload.Effect // of the scenario's workload
	words  workload.Words

	committed map[string]history.Message // distinct committed messages by id (first row wins)
	commits   []history.Message          // the same, in commit order

	effects   map[string][]history.Effect // effect rows by message id, in row order
	effectIDs []string                    // distinct message ids of effect rows, in row order

	values   map[string]int64 // final value by key (last row wins)
	valueKey []string         // distinct keys of values, in row order
}

func newState(h *history.History) *state {
	f := &h.Final
	w, err := workload.Lookup(h.Scenario.Workload)
	if err != nil {
		w.Words = unknownWords
	}
	s, _ := states.Get().(*state)
	if s == nil {
		s = &state{
			committed: make(map[string]history.Message, len(f.Committed)),
			commits:   make([]history.Message, 0, len(f.Committed)),
			effects:   make(map[string][]history.Effect, len(f.Effects)),
			values:    make(map[string]int64, len(f.Values)),
		}
	}
	s.h, s.effect, s.words = h, w.Effect, w.Words
	for _, m := range f.Committed {
		if _, dup := s.committed[m.ID]; dup {
			continue
		}
		s.committed[m.ID] = m
		s.commits = append(s.commits, m)
	}
	for _, e := range f.Effects {
		rows, seen := s.effects[e.Msg]
		if !seen {
			s.effectIDs = append(s.effectIDs, e.Msg)
		}
		s.effects[e.Msg] = append(rows, e)
	}
	for _, v := range f.Values {
		if _, seen := s.values[v.Key]; !seen {
			s.valueKey = append(s.valueKey, v.Key)
		}
		s.values[v.Key] = v.Value
	}
	return s
}

// states holds the states of finished checks, their maps emptied, for later checks: a matrix
// checks hundreds of thousands of histories, each with maps of a few dozen entries.
var states sync.Pool

// release empties s and keeps it for a later check. Nothing the checkers returned refers to s:
// a violation's ids, details and evidence are its own.
func (s *state) release() {
	clear(s.committed)
	clear(s.effects)
	clear(s.values)
	clear(s.commits)
	clear(s.effectIDs)
	clear(s.valueKey)
	*s = state{
		committed: s.committed, commits: s.commits[:0],
		effects: s.effects, effectIDs: s.effectIDs[:0],
		values: s.values, valueKey: s.valueKey[:0],
	}
	states.Put(s)
}

// keyOf is the business key of message id: the committed row's, else the first effect row's.
func (s *state) keyOf(id string) string {
	if m, ok := s.committed[id]; ok {
		return m.Key
	}
	if rows := s.effects[id]; len(rows) > 0 {
		return rows[0].Key
	}
	return ""
}

// violation builds a Violation: msgs sorted and deduplicated, evidence attached.
func (s *state) violation(invariant Name, key string, msgs []string, detail string) Violation {
	msgs = sortedSet(msgs)
	return Violation{
		Invariant: invariant,
		Key:       key,
		Msgs:      msgs,
		Detail:    detail,
		Evidence:  s.evidence(msgs),
	}
}

// evidence returns the events about msgs (h.About of each, merged): in time order, ties in
// history order. msgs are distinct, and an event names one message, so each event comes once.
// A run has few violations and a few hundred events: one pass over the events per violation
// costs less than indexing every message's events.
func (s *state) evidence(msgs []string) []history.Event {
	if len(msgs) == 0 {
		return nil
	}
	events := s.h.Events
	var idx []int
	for i := range events {
		if m := events[i].Msg; m != "" && slices.Contains(msgs, m) {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return nil
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ea, eb := &events[idx[a]], &events[idx[b]]
		if ea.Time != eb.Time {
			return ea.Time < eb.Time
		}
		return idx[a] < idx[b]
	})
	out := make([]history.Event, len(idx))
	for i, k := range idx {
		out[i] = events[k]
	}
	return out
}

// sortedSet returns ids sorted, without repeats and without empty ids.
func sortedSet(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.Strings(out)
	n := 1
	for _, id := range out[1:] {
		if id != out[n-1] {
			out[n] = id
			n++
		}
	}
	return out[:n]
}

// sortViolations orders violations by key, then message ids.
func sortViolations(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool {
		a, b := vs[i], vs[j]
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return lessMsgs(a.Msgs, b.Msgs)
	})
}

func lessMsgs(a, b []string) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return len(a) < len(b)
}

// unknownWords are how details speak of the effect of a workload outside the catalogue (a
// checker run directly on a hand-made history).
var unknownWords = workload.Words{Applied: "applied", Rows: "effect rows", NamesKey: true}

// to is " to <key>" where the workload names the key an effect went to.
func (s *state) to(key string) string {
	if !s.words.NamesKey || key == "" {
		return ""
	}
	return " to " + key
}

// times renders a repeat count: "1 time", "2 times".
func times(n int) string {
	if n == 1 {
		return "1 time"
	}
	return fmt.Sprintf("%d times", n)
}
