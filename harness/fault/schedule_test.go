package fault_test

import (
	"reflect"
	"testing"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// TestSchedulePass: the schedule keeps each (role, point) a run passed once, every consumer
// process as the consumer role, sorted by role and point, with the times it was passed.
func TestSchedulePass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		passes [][2]string // proc, point
		want   []history.Reach
	}{
		{"none", nil, nil},
		{"repeats and consumers collapse", [][2]string{
			{"consumer-2", "consumer.after-effect"}, {"relay", "relay.after-claim"}, {"consumer-1", "consumer.after-effect"},
			{"producer", "producer.after-commit"}, {"relay", "relay.after-claim"}, {"consumer-1", "consumer.after-ack"},
		}, []history.Reach{
			{Role: "consumer", Point: "consumer.after-ack", Passes: 1}, {Role: "consumer", Point: "consumer.after-effect", Passes: 2},
			{Role: "producer", Point: "producer.after-commit", Passes: 1}, {Role: "relay", Point: "relay.after-claim", Passes: 2},
		}},
		{"same point, two roles", [][2]string{{"producer", "shared"}, {"relay", "shared"}, {"relay", "shared"}, {"relay", "shared"}},
			[]history.Reach{{Role: "producer", Point: "shared", Passes: 1}, {Role: "relay", Point: "shared", Passes: 3}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fault.NewSchedule(nil)
			for _, p := range tc.passes {
				s.Pass(p[0], p[1])
			}
			if got := s.Reached(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Reached = %+v, want %+v", got, tc.want)
			}
		})
	}
}
