package scenarios

import (
	"slices"
	"testing"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

func TestUnexpectedAndMissing(t *testing.T) {
	cases := []struct {
		name                string
		expected, mayBreak  []invariants.Name
		violations          map[invariants.Name]int
		unexpected, missing []invariants.Name
	}{
		{"agrees", []invariants.Name{"no-duplicate-effect"}, nil, map[invariants.Name]int{"no-duplicate-effect": 3, "no-lost-effect": 0}, nil, nil},
		{"missing", []invariants.Name{"no-duplicate-effect"}, nil, map[invariants.Name]int{"no-duplicate-effect": 0}, nil, []invariants.Name{"no-duplicate-effect"}},
		{"extra", nil, nil, map[invariants.Name]int{"no-lost-effect": 1}, []invariants.Name{"no-lost-effect"}, nil},
		{"allowed", nil, []invariants.Name{"converges"}, map[invariants.Name]int{"converges": 1}, nil, nil},
	}
	for _, tc := range cases {
		r := result.CellResult{Expected: tc.expected, MayBreak: tc.mayBreak, Violations: tc.violations}
		if got := r.Unexpected(); !slices.Equal(got, tc.unexpected) {
			t.Errorf("%s: unexpected %q, want %q", tc.name, got, tc.unexpected)
		}
		if got := r.Missing(); !slices.Equal(got, tc.missing) {
			t.Errorf("%s: missing %q, want %q", tc.name, got, tc.missing)
		}
		exp := Expectation{Breaks: tc.expected, MayBreak: tc.mayBreak}
		if agrees := exp.Agrees(r.Broken()); agrees != (len(tc.unexpected) == 0 && len(tc.missing) == 0) {
			t.Errorf("%s: Agrees = %v", tc.name, agrees)
		}
	}
}
