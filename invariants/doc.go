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
//   - no-lost-effect: every committed message has an effect row as committed, with its key and
//     amount (every kind; for set, every key's latest committed change).
//   - no-phantom-effect: every effect row belongs to a committed message: one of its message id,
//     with its key and amount (every kind).
//
// An effect row belongs to its message by all three: a payment for order-1 booked on order-2, or
// for another amount, is an effect no committed message asked for (no-phantom-effect, on the key
// it landed on), and order-1 is still owed its own (no-lost-effect). These are the two
// invariants' meaning, not new names: a row that departs from its command is, on the final
// state, both an effect nothing committed and an effect still missing.
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
