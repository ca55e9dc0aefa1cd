package scenarios

// Which of the fault points a cell's strategies declare its runs reached (result.Coverage).

import (
	"slices"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// Coverage is, per role, the fault points p and c declare (the producer's Points, its relay's
// RelayPoints, the consumer's Points), split by whether reached holds them. Roles that declare no
// point are left out; reached may hold points of several runs, in any order and repeated.
func Coverage(p strategies.Producer, c strategies.Consumer, reached []history.Reach) result.Coverage {
	var cov result.Coverage
	add := func(role string, declared []string) {
		if len(declared) == 0 {
			return
		}
		rc := result.RoleCoverage{Role: role, Declared: slices.Clone(declared), Reached: []string{}, Unreached: []string{}}
		for _, point := range declared {
			if slices.Contains(reached, history.Reach{Role: role, Point: point}) {
				rc.Reached = append(rc.Reached, point)
			} else {
				rc.Unreached = append(rc.Unreached, point)
			}
		}
		cov = append(cov, rc)
	}
	add(history.RoleProducer, p.Points())
	if r, ok := p.(strategies.Relay); ok {
		add(history.RoleRelay, r.RelayPoints())
	}
	add(history.RoleConsumer, c.Points())
	return cov
}

// reachMeter gathers the fault points a cell's runs reached, each once.
type reachMeter struct{ reached []history.Reach }

func (m *reachMeter) add(h *history.History) {
	if h == nil {
		return
	}
	for _, r := range h.Reached {
		if !slices.Contains(m.reached, r) {
			m.reached = append(m.reached, r)
		}
	}
}

// coverage is the cell's coverage over the runs added; nil when its strategies are not
// registered (the runs then failed with a usage error).
func (m *reachMeter) coverage(c result.Cell) result.Coverage {
	p, err := strategies.LookupProducer(c.Producer)
	if err != nil {
		return nil
	}
	cons, err := strategies.LookupConsumer(c.Consumer)
	if err != nil {
		return nil
	}
	return Coverage(p, cons, m.reached)
}
