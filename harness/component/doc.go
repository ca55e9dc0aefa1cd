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
// The two copies these loops replace had drifted; each backend keeps its behaviour through its
// Host and Commands, and the differences are these:
//   - A relay's failed pass: the simulator counts the relay idle while it waits for the next
//     poll (Host.Poll); a real worker does not report idle then, only after a pass that found
//     nothing (Host.Idle), and the parent counts its gates as work.
//   - A consumer's wait for a delivery: the simulator's subscription marks the process idle
//     while it waits, so Host.Idle says nothing more; a real worker tells its parent.
//   - The producer's end: the simulator's producer process finishes; a real producer tells its
//     parent and stays until the parent ends the run.
//   - The relay's ports: the simulator gives every relay a replication slot (RelayEnv.Log), a
//     real worker only a relay that tails the log.
//   - The consumer group's name was written in both; it is Group here.
//
// It imports the strategy ports, the history vocabulary and record's Log; it must not import
// harness, a backend (harness/sim, harness/real), invariants, scenarios or reports.
package component
