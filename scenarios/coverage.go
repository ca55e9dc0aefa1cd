package scenarios

// Which of the fault points a cell's strategies declare its runs reached, and in how many runs
// (result.Coverage).

import (
	"slices"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/scenarios/result"
	"github.com/deliveryharness/harness/strategies"
)

// Coverage is, per role, the fault points p and c declare (the producer's Points, its relay's
// RelayPoints, the consumer's Points), split by whether reached holds them, each reached one with
// the number of times reached holds it and the sum of their Passes. Roles that declare no point
// are left out. reached may hold the points of several runs in any order: appended run after run,
// each run's History.Reached (which lists a point once), a point's count is the runs that passed
// it and its passes the times they passed it. The counts' Runs is left 0: the caller knows how
// many runs reached is of.
func Coverage(p strategies.Producer, c strategies.Consumer, reached []history.Reach) result.Coverage {
	var m reachMeter
	m.addReached(reached)
	return coverage(p, c, m.counts, 0)
}

// reachKey is a fault point of a role, whatever its passes.
type reachKey struct{ role, point string }

// reachCount is what a cell's runs did at one point: the runs that passed it, and the times in all.
type reachCount struct{ runs, passes int }

// coverage is Coverage over counts (by point) of runs runs.
func coverage(p strategies.Producer, c strategies.Consumer, counts map[reachKey]reachCount, runs int) result.Coverage {
	var cov result.Coverage
	add := func(role string, declared []string) {
		if len(declared) == 0 {
			return
		}
		rc := result.RoleCoverage{
			Role: role, Declared: slices.Clone(declared), Reached: []string{}, Unreached: []string{},
			Runs: runs, RunsReached: map[string]int{}, Passes: map[string]int{},
		}
		for _, point := range declared {
			n := counts[reachKey{role, point}]
			if n.runs == 0 {
				rc.Unreached = append(rc.Unreached, point)
				continue
			}
			rc.Reached = append(rc.Reached, point)
			rc.RunsReached[point] = n.runs
			if n.passes > 0 {
				rc.Passes[point] = n.passes
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

// reachMeter counts, over a cell's settled runs, the runs that reached each fault point and the
// times they passed it.
type reachMeter struct {
	runs   int
	counts map[reachKey]reachCount
}

// add counts one settled run's points (History.Reached lists each once).
func (m *reachMeter) add(h *history.History) {
	if h == nil {
		return
	}
	m.runs++
	m.addReached(h.Reached)
}

// addReached counts each entry of reached as one run's pass of its point, Passes times.
func (m *reachMeter) addReached(reached []history.Reach) {
	if m.counts == nil {
		m.counts = make(map[reachKey]reachCount, 16)
	}
	for _, r := range reached {
		k := reachKey{r.Role, r.Point}
		n := m.counts[k]
		n.runs++
		n.passes += r.Passes
		m.counts[k] = n
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
	return coverage(p, cons, m.counts, m.runs)
}
