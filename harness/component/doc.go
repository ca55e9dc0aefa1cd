// Package component holds the loops of a run's components, written once and driven by both
// backends: the producer (the clients' commands, one after the other, each recorded as a produce
// event), the relay (passes until one finds nothing, then a wait for the next poll) and the
// consumers (Next and Handle, with a wait before reconnecting after a failure).
//
// What differs between the backends is behind two small interfaces: Commands keeps the
// producer's cursor across its incarnations (the simulator in a variable of the run, real servers
// in the parent, which counts the producer's "produce" gates and gives a new process the commands
// still to do), and Host says how a component waits and how the backend learns that it is idle
// (the simulator sees a process blocked waiting for work; a real worker tells its parent).
//
// It imports the strategy ports, the history vocabulary and record's Log; it must not import
// harness, a backend (harness/sim, harness/real), invariants, scenarios or reports.
package component
