// Package invariants judges a finished run. Each checker reads a history.History and reports the
// invariants the run broke, each with its witness: the business key, the message ids involved and
// the history events about those messages.
//
// The ground truth is the database's final state (History.Final): the committed business rows,
// the committed effect rows and the final values per key. The events of the history are only
// evidence; a checker never decides from them.
//
// The catalogue, in order. An invariant applies by the effect kind of the run's workload
// (package workload), never by its name:
//
//   - no-duplicate-effect: no message has more than one effect row (append, add and external
//     effects: orders, credits, emails; setting a price twice is harmless, so not set).
//   - no-lost-effect: every committed message has an effect row (every kind).
//   - no-phantom-effect: every effect row belongs to a committed message (every kind).
//   - converges: every key's final value is the value of its latest committed change (set: prices).
//   - balance: every account's balance is the sum of its distinct committed credits (add: credits).
//
// A Violation is a result, never an error. Checkers are deterministic: the same history gives the
// same violations in the same order (by key, then message ids).
//
// It imports only the history vocabulary and the workloads (their effect kinds and words), so
// that the checkers are the same on both backends: it must not import harness, a backend,
// strategies, scenarios or reports.
package invariants
