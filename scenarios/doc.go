// Package scenarios composes the harness: the generator of workload commands × fault schedule ×
// concurrency, driven by a Source (a seed for the CLI: NewSeedSource, FromSeed), the catalogue of
// expected outcomes (the truth table, reasoned from the strategies' mechanics), running a cell
// over many seeds (RunCell, RunMatrix) with its cost, shrinking a failure to a small
// counterexample, and the named scenarios of the fidelity test. What a cell's runs yield is plain
// data in package scenarios/result, which is all the reports read.
//
// The CLI links this package, so it must not import testing or pgregory.net/rapid: the rapid
// generator, Prove and the other test helpers live in scenarios/scenariotest, which drives the
// same generator with rapid's draws so that failures shrink. It must not import reports, cmd or a
// backend (harness/sim, harness/real) directly: backends come in as a harness.Backend.
package scenarios
