package fault

import (
	"slices"

	"github.com/deliveryharness/harness/harness/history"
)

// Schedule is a fault schedule being played: it counts, for each fault, the operations of its
// target that the fault watches, and says when it fires. Both backends play schedules with it,
// so that "#3" means the same on either.
type Schedule struct {
	armed []*armed
}

type armed struct {
	f     history.Fault
	count int
	fired bool
}

// NewSchedule arms the faults of a scenario.
func NewSchedule(faults []history.Fault) *Schedule {
	s := &Schedule{}
	for _, f := range faults {
		s.armed = append(s.armed, &armed{f: f})
	}
	return s
}

// Fire counts one operation of proc (at point, for crashes) for the not yet fired faults of the
// given kinds that target proc (or everyone), and returns the first that reaches its Nth
// operation. Each fault fires once.
func (s *Schedule) Fire(kinds []string, proc, point string) *history.Fault {
	return s.fire(kinds, proc, point, "")
}

// FireLink is Fire for faults on one of proc's links (latency): it counts an operation of proc
// on link.
func (s *Schedule) FireLink(kinds []string, proc, link string) *history.Fault {
	return s.fire(kinds, proc, "", link)
}

func (s *Schedule) fire(kinds []string, proc, point, link string) *history.Fault {
	for _, a := range s.armed {
		if a.fired || !slices.Contains(kinds, a.f.Kind) {
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
