package strategies_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/deliveryharness/harness/strategies"
)

// named is a team's consumer under any name: it behaves as the naive consumer.
type named struct {
	strategies.Naive
	name string
}

func (n named) Name() string { return n.name }

// namedProducer is a team's producer under any name.
type namedProducer struct {
	strategies.DoubleWrite
	name string
}

func (n namedProducer) Name() string { return n.name }

func TestRegisterConsumer(t *testing.T) {
	if err := strategies.RegisterConsumer("team-first", func() strategies.Consumer { return named{name: "team-first"} }); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		as      string
		fn      strategies.NewConsumer
		refused bool
	}{
		{"a built-in's name", "inbox", func() strategies.Consumer { return named{name: "inbox"} }, true},
		{"an earlier registration's name", "team-first", func() strategies.Consumer { return named{name: "team-first"} }, true},
		{"no constructor", "team-nil", nil, true},
		{"a constructor of another name", "team-a", func() strategies.Consumer { return named{name: "team-b"} }, true},
		{"a new name", "team-second", func() strategies.Consumer { return named{name: "team-second"} }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := strategies.RegisterConsumer(tc.as, tc.fn)
			if tc.refused != (err != nil) {
				t.Fatalf("RegisterConsumer(%q) = %v, want refused %v", tc.as, err, tc.refused)
			}
			if tc.refused && !errors.Is(err, strategies.ErrRegistration) {
				t.Fatalf("the refusal does not wrap ErrRegistration: %v", err)
			}
		})
	}
	// The built-in is still the built-in; the registered ones are found by name and listed after.
	if c, err := strategies.LookupConsumer("inbox"); err != nil || c != (strategies.Inbox{}) {
		t.Fatalf("inbox resolves to %#v, %v", c, err)
	}
	if c, err := strategies.LookupConsumer("team-second"); err != nil || c.Name() != "team-second" {
		t.Fatalf("team-second resolves to %#v, %v", c, err)
	}
	var listed []string
	for _, c := range strategies.RegisteredConsumers() {
		listed = append(listed, c.Name())
	}
	if !slices.Contains(listed, "team-first") || !slices.Contains(listed, "team-second") || slices.Contains(strategies.ConsumerNames(), "team-first") {
		t.Fatalf("registered %q; the catalogue's names are %q", listed, strategies.ConsumerNames())
	}
}

func TestRegisterProducer(t *testing.T) {
	for _, tc := range []struct {
		name    string
		as      string
		refused bool
	}{
		{"a built-in's name", "outbox", true},
		{"a new name", "team-producer", false},
		{"the same name again", "team-producer", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := strategies.RegisterProducer(tc.as, func() strategies.Producer { return namedProducer{name: tc.as} })
			if tc.refused != (err != nil) {
				t.Fatalf("RegisterProducer(%q) = %v, want refused %v", tc.as, err, tc.refused)
			}
		})
	}
}

// A value whose name is registered to another strategy is refused, not replaced by it.
func TestForRefusesAnotherStrategyOfTheSameName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		c       strategies.Consumer
		refused bool
	}{
		{"the built-in itself", strategies.Inbox{}, false},
		{"a team's strategy named inbox", named{name: "inbox"}, true},
		{"an unregistered name", named{name: "team-unregistered"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fn, err := strategies.ConsumerFor(tc.c)
			if tc.refused != (err != nil) {
				t.Fatalf("ConsumerFor(%#v) = %v, want refused %v", tc.c, err, tc.refused)
			}
			if err == nil && fn().Name() != tc.c.Name() {
				t.Fatalf("constructs %q for %q", fn().Name(), tc.c.Name())
			}
		})
	}
	if _, err := strategies.ProducerFor(namedProducer{name: "outbox"}); err == nil {
		t.Fatal("a team's producer named outbox was not refused")
	}
}
