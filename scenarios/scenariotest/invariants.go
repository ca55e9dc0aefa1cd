package scenariotest

import "github.com/deliveryharness/harness/invariants"

// Invariants adds a team's own invariants to Prove: each is checked after the catalogue's on
// every drawn scenario (invariants.CheckWith), on the simulator and on real servers, and a break
// fails the test as a built-in one does, with its name, detail and timeline. Each needs a name of
// its own (invariants.Validate): one named like a catalogue invariant or like another of the
// team's fails the test at once, in one line.
func Invariants(cs ...invariants.Checker) Option {
	return func(o *options) { o.invariants = append(o.invariants, cs...) }
}
