package invariants

import (
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

// The chain workload's invariants (Orders -> Payments -> Shipping): the consumer under test is
// the middle service, whose effect (a payment) emits a downstream message (ShipmentRequested)
// whose key is the upstream message it follows from. They apply to a workload whose consumer
// emits (workload.Downstream), whatever its effect kind, and to no other.
const (
	NoGhostMessage Name = "no-ghost-message"
	SameOutput     Name = "same-output"
)

// workloadChecker is a checker that applies by its workload's downstream, not its effect kind.
type workloadChecker interface {
	appliesTo(w workload.Workload) bool
}

// applies reports whether c judges runs of the named workload: by its effect kind, or, for the
// chain's checkers, by what its consumer emits.
func applies(c Checker, name string) bool {
	if wc, ok := c.(workloadChecker); ok {
		w, err := workload.Lookup(name)
		return err == nil && wc.appliesTo(w)
	}
	return c.Applies(workload.EffectOf(name))
}

// noGhostMessage: every downstream message follows from a committed effect of the middle
// service. Ground truth first: every row of the middle service's outbox and every shipment has
// an effect row for the message it follows from. Then the history: a downstream message that an
// attempt made visible (a commit, answered or not, of a transaction that appended it) before its
// effect had committed anywhere must be followed by that same attempt committing the effect:
// an attempt whose process rolled back the effect, failed its commit or died first has emitted
// a ghost message (Particular's exactly-once consistency models), even if a retry pays later.
type noGhostMessage struct{}

// Name implements Checker.
func (noGhostMessage) Name() Name { return NoGhostMessage }

// Doc implements Checker.
func (noGhostMessage) Doc() string {
	return "every downstream message follows from a committed effect of the middle service: none emitted by an attempt whose effect did not commit (chain)"
}

// Applies implements Checker: by the workload (appliesTo), never by the effect kind alone.
func (noGhostMessage) Applies(workload.Effect) bool { return false }

func (noGhostMessage) appliesTo(w workload.Workload) bool { return w.Downstream != "" }

// Check implements Checker.
func (c noGhostMessage) Check(h *history.History) []Violation { return check(c, h) }

// emission is a downstream message appended by a middle-service transaction.
type emission struct{ msg, source string }

// attempt is what one middle-service transaction did, as its events show.
type attempt struct {
	applied []string   // messages whose effect it applied
	emitted []emission // downstream messages it appended
}

func (c noGhostMessage) run(s *state) []Violation {
	f := &s.h.Final
	ghosts := map[emission]string{} // -> why
	for _, rows := range [][]history.Effect{f.Emitted, f.Shipped} {
		for _, r := range rows {
			if len(s.effects[r.Key]) == 0 {
				ghosts[emission{r.Msg, r.Key}] = fmt.Sprintf("%s exists for %s, which has no %s (%s for %s: 0)", r.Msg, r.Key, strings.TrimSuffix(s.words.Rows, "s"), s.words.Rows, r.Key)
			}
		}
	}
	cur := map[string]*attempt{}       // open transaction by process
	pending := map[string][]emission{} // visible before their effect, by the emitting process
	effected := map[string]bool{}      // messages whose effect some commit (answered or not) made
	ghost := func(proc string, e emission, why string) {
		if _, seen := ghosts[e]; !seen {
			ghosts[e] = fmt.Sprintf("%s was emitted for %s by %s, whose effect of %s then %s", e.msg, e.source, proc, e.source, why)
		}
	}
	settle := func(proc string, applied []string, why string) {
		keep := pending[proc][:0]
		for _, e := range pending[proc] {
			if slices.Contains(applied, e.source) {
				ghost(proc, e, why)
				continue
			}
			keep = append(keep, e)
		}
		pending[proc] = keep
	}
	for _, e := range s.h.Events {
		if history.RoleOf(e.Proc) != history.RoleConsumer {
			continue
		}
		a := cur[e.Proc]
		if a == nil {
			a = &attempt{}
			cur[e.Proc] = a
		}
		switch e.Op {
		case history.OpApply:
			if e.Outcome == history.OK {
				a.applied = append(a.applied, e.Msg)
			}
		case history.OpOutbox:
			if e.Outcome == history.OK {
				a.emitted = append(a.emitted, emission{e.Msg, e.Key})
			}
		case history.OpCommit:
			if e.Outcome == history.Fail {
				settle(e.Proc, a.applied, "failed to commit")
				break
			}
			for _, em := range a.emitted {
				if !slices.Contains(a.applied, em.source) && !effected[em.source] {
					pending[e.Proc] = append(pending[e.Proc], em)
				}
			}
			for _, id := range a.applied {
				effected[id] = true
			}
			keep := pending[e.Proc][:0]
			for _, em := range pending[e.Proc] {
				if !slices.Contains(a.applied, em.source) {
					keep = append(keep, em)
				}
			}
			pending[e.Proc] = keep
		case history.OpRollback:
			settle(e.Proc, a.applied, "rolled back")
		case history.OpCrash:
			for _, em := range pending[e.Proc] {
				ghost(e.Proc, em, "never committed: the process died first")
			}
			pending[e.Proc] = nil
		default:
			continue
		}
		if e.Op != history.OpApply && e.Op != history.OpOutbox {
			cur[e.Proc] = nil
		}
	}
	for proc, ems := range pending {
		for _, em := range ems {
			ghost(proc, em, "was never committed by it")
		}
	}
	var out []Violation
	for e, why := range ghosts {
		out = append(out, s.violation(c.Name(), e.source, []string{e.msg, e.source}, why))
	}
	sortViolations(out)
	return out
}

// sameOutput: a re-processed duplicate emits the same downstream message as the first
// processing, same id and same content, so that the downstream service's own de-duplication
// (by id) sees one message: every row of the middle service's outbox that follows from one
// upstream message is the same message, and the downstream service shipped it at most once.
type sameOutput struct{}

// Name implements Checker.
func (sameOutput) Name() Name { return SameOutput }

// Doc implements Checker.
func (sameOutput) Doc() string {
	return "a re-processed duplicate emits the same downstream message (same id, same content) as the first processing (chain)"
}

// Applies implements Checker: by the workload (appliesTo), never by the effect kind alone.
func (sameOutput) Applies(workload.Effect) bool { return false }

func (sameOutput) appliesTo(w workload.Workload) bool { return w.Downstream != "" }

// Check implements Checker.
func (c sameOutput) Check(h *history.History) []Violation { return check(c, h) }

func (c sameOutput) run(s *state) []Violation {
	f := &s.h.Final
	type output struct {
		id     string
		amount int64
	}
	outputs := map[string][]output{} // distinct outputs by upstream message, in row order
	var sources []string
	for _, rows := range [][]history.Effect{f.Emitted, f.Shipped} {
		for _, r := range rows {
			o := output{r.Msg, r.Amount}
			if _, seen := outputs[r.Key]; !seen {
				sources = append(sources, r.Key)
			}
			if !slices.Contains(outputs[r.Key], o) {
				outputs[r.Key] = append(outputs[r.Key], o)
			}
		}
	}
	var out []Violation
	for _, src := range sources {
		outs := outputs[src]
		if len(outs) < 2 {
			continue
		}
		msgs := []string{src}
		parts := make([]string, len(outs))
		for i, o := range outs {
			msgs = append(msgs, o.id)
			parts[i] = fmt.Sprintf("%s (amount %d)", o.id, o.amount)
		}
		shipped := 0
		for _, r := range f.Shipped {
			if r.Key == src {
				shipped++
			}
		}
		detail := fmt.Sprintf("%s emitted %d different messages: %s; shipped %s", src, len(outs), strings.Join(parts, ", "), times(shipped))
		out = append(out, s.violation(c.Name(), src, msgs, detail))
	}
	sortViolations(out)
	return out
}
