// Package real is the backend on real servers: it runs a scenario with every component
// (producer, relay, consumers) as a worker process of its own (this binary re-executed, see
// WorkerMain), each with its own connections through its own proxies of an in-process Toxiproxy.
// It owns the run loop (spawn, serve the workers' gates, heal, wait for quiescence, read the
// final state), the table from operations to fault mechanisms (mechanisms.go: a crash is a
// SIGKILL at the named fault point, a link fault a toxic or a cut on the worker's proxy, and an
// ambiguous commit, a lost confirm or a lost ack the harness-wire toxic acting on the one
// protocol event of the operation: wire_catalogue.go), the worker process's side (the gates around its ports), the emails workload's mail gateway, and
// Clean, which reaps what killed runs left.
//
// The servers' own code lives below it: pg (PostgreSQL: schema, store, replication slot, error
// classes), amqp (RabbitMQ: queue, publisher, subscription), worker (the protocol both ends of a
// worker's pipes read), infra (where the servers come from) and redact (the one place that hides
// passwords). None of them imports this package. realtest and containers hold test helpers;
// this package must not import them, nor testing.
//
// Isolation: every run works in its own PostgreSQL schema and its own queue, named with a unique
// run id under the harness's prefix (a log-tailing run also has its own logical replication slot,
// named as its schema, which needs wal_level=logical), and removes them afterwards. The backend
// refuses to drop a schema or delete a queue it did not create. Credentials never reach a log, a
// report or an error: URLs and errors are redacted first.
package real
