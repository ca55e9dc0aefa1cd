// Package worker is the protocol between the parent of a real run and its worker processes (the
// binary re-executed, one process per component): the configuration a worker starts with (Config,
// in the environment variable Env), the messages it writes to its stdout, one JSON object per
// line (events, gates, idle, done), and the parent's one-line replies on its stdin.
//
// A gate is a point where the worker stops and waits for the parent: before an operation on one
// of its links, after one, or at a fault point of its strategy. Its kind (GateKind) is typed and
// names the operation, so that the parent's table of fault mechanisms and the worker's wrappers
// around the ports speak of the same thing.
//
// Both ends read this package; it is plain data and a line codec. It must not import package
// real (either end's process), pg, amqp, nor testing.
package worker
