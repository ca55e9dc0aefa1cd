// Package workload is the catalogue of workloads, one file per workload: its name (a contract
// with the CLI, the reports and outside checks), its one-line doc, the kind of effect its events
// have (Effect: append a row, add to a balance, set a value, or call a service outside the
// database), the commands the scenarios' generator makes of it, and the words the checkers, the
// reports and the demo use for it ("order", "paid", "payments").
//
// Nothing else branches on a workload's name: the backends apply an event by its workload's
// Effect, the invariants choose themselves by it, the catalogue of expected outcomes is keyed on
// it, and the faults' topology has a mail gateway where the effect is External. A new workload is
// a new file here, its line in the catalogue list (workload.go), and its lines in the catalogue
// of expected outcomes where its effect kind is new.
//
// It is a leaf: it imports only the standard library, so that the history vocabulary, the
// strategy ports and the invariants can import it. It must not import anything of the project.
package workload
