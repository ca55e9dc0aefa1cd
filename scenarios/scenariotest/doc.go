// Package scenariotest holds the helpers for proving delivery strategies in `go test`, as etcd's
// rafttest does for raft: Prove checks a producer and a consumer with pgregory.net/rapid on the
// simulator, or with seeded draws on real servers (OnReal, FindViolation), Scenarios is the rapid generator of a cell's scenarios (its draws shrink), and
// Describe renders a failing run for a test's message.
//
// It is the only package of the module besides the real backend's test helpers that imports
// testing or rapid, so that the CLI links neither: scenarios keeps the seeded generator the CLI
// uses, and this package drives the same generator with rapid's draws. It may import anything
// the property tests need; nothing but tests may import it.
package scenariotest
