// Package pg is the PostgreSQL half of the real backend, on pgx: a run's schema (created with
// the harness's marker, dropped only when the marker is there, read at the end of the run), the
// strategies.Store and strategies.Tx on it (one SQL statement per port call at READ COMMITTED),
// the run's logical replication slot with its publication and the tailer's reader of it
// (strategies.ChangeLog: the slot streamed with pgoutput over the replication protocol), the
// run's liveness marker and the reaping of killed runs (Clean), and the classes of PostgreSQL's
// errors: a failed call wraps the strategies sentinel it falls under (ErrDuplicateKey,
// ErrLockTimeout, ErrTxAborted, ErrConnection, ErrUnknownOutcome), on one line and with every
// password redacted.
//
// It knows nothing of runs, processes or faults: it must not import package real (the run loop)
// nor its siblings amqp and worker, nor testing. It imports the strategies' ports, the history's
// plain data, the workloads (a store applies an event by its workload's effect kind) and the
// backend's leaves (infra, redact).
package pg
