package cli

import (
	"strings"
	"testing"
)

// TestMaxConsumersSeeded: --max-consumers draws up to that many competing consumers in seeded
// runs too, the verdict follows the catalogue's expectation for that bound, and the replay line
// carries the flag, so that it rebuilds the scenario that broke.
func TestMaxConsumersSeeded(t *testing.T) {
	cell := []string{"--producer", "outbox", "--consumer", "naive", "--workload", "prices", "--fault", "none"}
	tests := []struct {
		name      string
		flags     []string
		code      int
		want      []string
		replayArg string
	}{
		{"one consumer holds", nil, exitOK, []string{"nothing broken"}, ""},
		{"two consumers reorder", []string{"--max-consumers", "2"}, exitFindings,
			[]string{"converges  (as expected)", "competing consumers (Limits.MaxConsumers)"}, " --max-consumers 2"},
		{"out of bounds", []string{"--max-consumers", "17"}, exitUsage, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(append([]string{"run"}, cell...), tt.flags...)
			r := simulate(t, args...)
			requireCode(t, r, tt.code, args)
			if tt.code == exitUsage {
				if lines := strings.Count(strings.TrimSpace(r.stderr), "\n"); lines != 0 || !strings.Contains(r.stderr, "--max-consumers") {
					t.Errorf("want one line naming the flag, got %q", r.stderr)
				}
				return
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("output lacks %q:\n%s", w, clip(r.stdout))
				}
			}
			if tt.replayArg == "" {
				return
			}
			m := replayLine.FindStringSubmatch(r.stdout)
			if m == nil || !strings.HasSuffix(m[1], tt.replayArg) {
				t.Fatalf("replay line %q does not end with %q", m, tt.replayArg)
			}
			replay := strings.Fields(strings.TrimPrefix(m[1], "go run ./cmd/simulate "))
			again := simulate(t, replay...)
			requireCode(t, again, exitFindings, replay)
			if !strings.Contains(again.stdout, "converges broken") {
				t.Errorf("the replay does not break converges:\n%s", clip(again.stdout))
			}
			without := simulate(t, replay[:len(replay)-2]...)
			if strings.Contains(without.stdout, "converges broken") {
				t.Errorf("the replay breaks converges without --max-consumers: the flag does not matter")
			}
		})
	}
}
