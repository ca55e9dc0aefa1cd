package harness

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

func TestValidate(t *testing.T) {
	ok := history.Scenario{
		Producer: "outbox", Consumer: "inbox", Workload: workload.Orders.Name, Fault: "crash-relay",
		Commands:  []history.Message{{ID: "order-1", Key: "order-1", Amount: 10}},
		Faults:    []history.Fault{{Kind: "crash-relay", Target: "relay", Point: "relay.after-publish", Nth: 1}},
		Consumers: 1, Prefetch: 1, Batch: 1,
	}
	cases := []struct {
		name   string
		change func(*history.Scenario)
		want   string // a part of the error; empty: valid
	}{
		{"valid", func(*history.Scenario) {}, ""},
		{"unknown producer", func(s *history.Scenario) { s.Producer = "nosuch" }, `unknown producer strategy "nosuch"`},
		{"unknown consumer", func(s *history.Scenario) { s.Consumer = "nosuch" }, `unknown consumer strategy "nosuch"`},
		{"unknown workload", func(s *history.Scenario) { s.Workload = "nosuch" }, `unknown workload "nosuch"`},
		{"unknown fault", func(s *history.Scenario) { s.Fault = "nosuch" }, `unknown fault "nosuch"`},
		{"relay fault without relay", func(s *history.Scenario) { s.Producer = "double-write" }, "needs a producer with a relay"},
		{"too few consumers", func(s *history.Scenario) { s.Fault = "concurrent-consumers"; s.Faults = nil }, "needs at least 2 consumers"},
		{"too many consumers", func(s *history.Scenario) { s.Consumers = MaxConsumers + 1 }, "out of bounds"},
		{"repeated command id", func(s *history.Scenario) { s.Commands = append(s.Commands, s.Commands[0]) }, "repeated id"},
		{"nth zero", func(s *history.Scenario) { s.Faults[0].Nth = 0 }, "nth must be 1 or more"},
		{"target that does not exist", func(s *history.Scenario) { s.Faults[0].Target = "nobody" }, `cannot target "nobody"`},
		{"point the target does not pass", func(s *history.Scenario) { s.Faults[0].Point = "producer.after-commit" }, `no fault point "producer.after-commit"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sc := ok
			sc.Commands = append([]history.Message(nil), ok.Commands...)
			sc.Faults = append([]history.Fault(nil), ok.Faults...)
			tc.change(&sc)
			_, _, err := Validate(sc)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("valid scenario refused: %v", err)
			case tc.want != "" && err == nil:
				t.Fatalf("accepted, want an error with %q", tc.want)
			case tc.want != "" && (!strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrUsage)):
				t.Fatalf("error %q, want a usage error with %q", err, tc.want)
			}
			if err == nil {
				if _, err := Run(context.Background(), NewSim(), sc); err != nil {
					t.Fatalf("run: %v", err)
				}
			}
		})
	}
}
