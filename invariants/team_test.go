package invariants

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

// applyOnce is a team's own invariant: no message is applied more than once, counted in the
// history's apply events. Its violations name the message and leave Evidence to CheckWith.
type applyOnce struct{ effects []workload.Effect }

func (applyOnce) Name() Name  { return "team-apply-once" }
func (applyOnce) Doc() string { return "no message is applied twice" }
func (a applyOnce) Applies(e workload.Effect) bool {
	return a.effects == nil || slices.Contains(a.effects, e)
}
func (applyOnce) Check(h *history.History) []Violation {
	n := map[string]int{}
	var ids []string
	for _, e := range h.Events {
		if e.Op == history.OpApply && e.Outcome == history.OK {
			if n[e.Msg] == 0 {
				ids = append(ids, e.Msg)
			}
			n[e.Msg]++
		}
	}
	slices.Sort(ids)
	var out []Violation
	for _, id := range ids {
		if n[id] > 1 {
			out = append(out, Violation{Msgs: []string{id}, Detail: fmt.Sprintf("%s applied %d times", id, n[id])})
		}
	}
	return out
}

func TestCheckWith(t *testing.T) {
	cases := []struct {
		name    string
		fixture string
		extra   []Checker
		want    []Name // Broken of the result
		team    []string
	}{
		{"good-history", "orders-good", []Checker{applyOnce{}}, nil, nil},
		{"no-extra-is-check", "orders-duplicate", nil, []Name{NoDuplicateEffect}, nil},
		{"team-break-beside-built-in", "orders-duplicate", []Checker{applyOnce{}}, []Name{NoDuplicateEffect, "team-apply-once"}, []string{"order-1"}},
		{"team-invariant-not-applying", "orders-duplicate", []Checker{applyOnce{effects: []workload.Effect{workload.Set}}}, []Name{NoDuplicateEffect}, nil},
		{"nil-checker-skipped", "orders-duplicate", []Checker{nil}, []Name{NoDuplicateEffect}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := load(t, c.fixture)
			vs := CheckWith(h, c.extra...)
			if got := Broken(vs); !slices.Equal(got, c.want) {
				t.Fatalf("Broken(CheckWith) = %v, want %v", got, c.want)
			}
			if !reflect.DeepEqual(vs[:len(Check(h))], Check(h)) {
				t.Errorf("the catalogue's violations are not Check's, first")
			}
			var team []string
			for _, v := range vs {
				if IsCatalogue(v.Invariant) {
					continue
				}
				team = append(team, v.Msgs...)
				if !reflect.DeepEqual(v.Evidence, h.About(v.Msgs[0])) {
					t.Errorf("team evidence = %v\nwant h.About(%s) = %v", v.Evidence, v.Msgs[0], h.About(v.Msgs[0]))
				}
			}
			if !slices.Equal(team, c.team) {
				t.Errorf("team violations about %v, want %v", team, c.team)
			}
		})
	}
}

// named is a team invariant under any name that never breaks.
type named Name

func (n named) Name() Name                       { return Name(n) }
func (named) Doc() string                        { return "never breaks" }
func (named) Applies(workload.Effect) bool       { return true }
func (named) Check(*history.History) []Violation { return nil }

// TestValidate: a team invariant needs a name of its own: not empty, not a catalogue invariant's,
// not another team invariant's; nil checkers are skipped.
func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []Checker
		want  string // the error's text; "" for none
	}{
		{"none", nil, ""},
		{"own names", []Checker{named("team-a"), applyOnce{}, nil}, ""},
		{"built-in name", []Checker{named("team-a"), named(NoDuplicateEffect)},
			`invariants: a team invariant needs a name of its own: team invariant "no-duplicate-effect" is named like the built-in one`},
		{"every built-in name", []Checker{named(Balance)},
			`invariants: a team invariant needs a name of its own: team invariant "balance" is named like the built-in one`},
		{"two alike", []Checker{named("team-a"), applyOnce{}, named("team-a")},
			`invariants: a team invariant needs a name of its own: two team invariants are named "team-a"`},
		{"no name", []Checker{applyOnce{}, named("")},
			`invariants: a team invariant needs a name of its own: team invariant 2 (invariants.named) has no name`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.extra...)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want || !errors.Is(err, ErrTeamName)):
				t.Fatalf("Validate: %v, want %q wrapping ErrTeamName", err, tc.want)
			}
		})
	}
}
