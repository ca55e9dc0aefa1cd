package fault

import (
	"cmp"
	"slices"

	"github.com/deliveryharness/harness/harness/history"
)

// Schedule is a fault schedule being played: it counts, for each fault, the operations of its
// target that its kind watches (Kind.Watches), and says when it fires. Both backends play
// schedules with it, so that "#3" means the same on either. It also notes the fault points the
// run's processes pass (Pass), and how many times, whether or not a fault fires there: the run's
// coverage.
type Schedule struct {
	armed   []*armed
	reached []history.Reach // each (role, point) once, in the order first passed, with its passes
}

type armed struct {
	f     history.Fault
	op    Op // what its kind watches
	count int
	fired bool
}

// NewSchedule arms the faults of a scenario.
func NewSchedule(faults []history.Fault) *Schedule {
	s := &Schedule{}
	for _, f := range faults {
		s.armed = append(s.armed, &armed{f: f, op: watches(f.Kind)})
	}
	return s
}

// Fire counts one operation op of proc (at point, for OpPoint) for the not yet fired faults
// whose kind watches op and that target proc (or everyone), and returns the first that reaches
// its Nth operation: the kinds that watch one operation are counted together, so at most one
// fault fires per operation. Each fault fires once.
func (s *Schedule) Fire(op Op, proc, point string) *history.Fault {
	return s.fire(op, proc, point, "")
}

// FireLink is Fire for an operation of proc on one of its links (OpLink): it counts the faults
// on that link.
func (s *Schedule) FireLink(proc, link string) *history.Fault {
	return s.fire(OpLink, proc, "", link)
}

func (s *Schedule) fire(op Op, proc, point, link string) *history.Fault {
	for _, a := range s.armed {
		if a.fired || a.op != op || op == OpNone {
			continue
		}
		if a.f.Target != "" && a.f.Target != proc {
			continue
		}
		if a.f.Point != "" && a.f.Point != point {
			continue
		}
		if a.f.Link != link {
			continue
		}
		a.count++
		if a.count == a.f.Nth {
			a.fired = true
			f := a.f
			return &f
		}
	}
	return nil
}

// Pass notes that proc passed the fault point. A backend calls it at every point a process
// passes; it keeps each (role, point) once, counting its passes, in a slice a run's few points
// keep small.
func (s *Schedule) Pass(proc, point string) {
	role := history.RoleOf(proc)
	for i := range s.reached {
		if r := &s.reached[i]; r.Point == point && r.Role == role {
			r.Passes++
			return
		}
	}
	s.reached = append(s.reached, history.Reach{Role: role, Point: point, Passes: 1})
}

// Reached is the fault points passed so far (Pass), each once with the times the role's
// processes passed it, sorted by role and point; nil when none was.
func (s *Schedule) Reached() []history.Reach {
	if len(s.reached) == 0 {
		return nil
	}
	out := slices.Clone(s.reached)
	slices.SortFunc(out, func(a, b history.Reach) int {
		return cmp.Or(cmp.Compare(a.Role, b.Role), cmp.Compare(a.Point, b.Point))
	})
	return out
}
