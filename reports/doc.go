// Package reports renders the results of the harness for people and for machines: a terminal
// matrix of every cell, the text of a single cell, counterexample timelines, indented JSON (the
// CLI contract), Markdown that pastes into an architecture decision record, and an HTML page.
//
// Every renderer is deterministic: the same results give the same bytes. Rows, columns and blocks
// follow the order of the results; invariants follow the catalogue order (invariants.Names), and
// names outside the catalogue come after it, sorted.
//
// A counterexample renders as a numbered timeline of its history: one aligned line per event,
// faults, crashes, restarts and heals in upper case, runs of identical lines from one process
// collapsed into one line with a repeat count, and the effects that make the violation marked
// with "<==": every committed apply of a duplicated message numbered ("effect #2 of order-1
// (duplicate)"), the commit of a message whose effect was lost, the apply of a phantom effect.
// The timeline is data before it is text: TimelineLines gives its numbered lines (TimelineLine),
// each with typed marks (MarkFault, MarkCrash, MarkEffect, MarkDuplicate, MarkLost, MarkGuard,
// ...), and text, Markdown, HTML, the sequence diagram and the CLI's demo all render from those
// lines. What the timeline finds in a history it reads from the events' fields (message ids,
// the processes a message went between, the defence that stopped a copy), never from their
// details, which it only shows.
//
// HTML is one self-contained page for architecture decisions and projectors: the decision
// matrix coloured by how often each cell broke, bar charts of violations per strategy and fault
// and of each strategy's cost (chart.go), and per counterexample a sequence diagram (sequence.go:
// a lane per process, an arrow or a mark per timeline line, numbered as the text timeline) over
// the numbered events. It is drawn by html/template (html.tmpl), as inline SVG and CSS, with no
// script and nothing loaded from outside the file.
//
// The package imports only the standard library and the harness's plain data: the history
// vocabulary, the invariants' names and Violation, the fault kinds' order, and the cells' results
// (scenarios/result). It must not import scenarios, harness or a backend (harness/sim,
// harness/real): a report renders results, it never runs anything. (Its tests may run the
// simulator to render real results, and its browser test alone drives Chromium through chromedp.)
package reports
