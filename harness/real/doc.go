// Package real is the backend on real servers: the strategy ports implemented with PostgreSQL
// (github.com/jackc/pgx/v5) and RabbitMQ (github.com/rabbitmq/amqp091-go), worker processes
// killed at fault points, network faults through an in-process Toxiproxy, and the discovery of
// the servers in the order the design gives: explicit URLs, the local default ports, then a
// starter passed with WithContainers (package containers starts them with testcontainers when a
// Docker engine is reachable; it lives apart because testcontainers brings testing and testify
// into whatever imports it).
//
// Isolation: every run works in its own PostgreSQL schema and its own queue, named with a unique
// run id under the harness's prefix (a log-tailing run also has its own logical replication slot,
// named as its schema, which needs wal_level=logical), and removes them afterwards. The package
// refuses to drop a schema or delete a queue it did not create. Credentials never reach a log, a
// report or an error: URLs are redacted first.
package real
