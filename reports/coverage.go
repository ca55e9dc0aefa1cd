package reports

import (
	"fmt"
	"strings"

	"github.com/deliveryharness/harness/scenarios/result"
)

// How the reports show a cell's coverage of fault points (result.Coverage): which declared points
// its runs reached, in how many runs and how many times in all, and which no run reached
// (unreachedText). A cell's own report (text, and a counterexample's HTML) names every point with
// its counts; the HTML matrix, which holds every cell, names in a cell's title only the points
// some of its runs missed.

// coverageRuns is the number of runs a cell's coverage counts are of; 0 where they were not
// counted (a result written before the counts).
func coverageRuns(cov result.Coverage) int {
	for _, rc := range cov {
		if rc.Runs > 0 {
			return rc.Runs
		}
	}
	return 0
}

// passesText is " (140 passes)": the times the role's processes passed point over the runs; ""
// where the passes were not counted.
func passesText(rc result.RoleCoverage, point string) string {
	switch n := rc.Passes[point]; n {
	case 0:
		return ""
	case 1:
		return " (1 pass)"
	default:
		return fmt.Sprintf(" (%d passes)", n)
	}
}

// reachedText says, per role, each declared fault point some run reached with the runs that
// reached it and the times they passed it: "runs that reached each fault point, of 100: producer:
// producer.before-commit 100 (100 passes), producer.after-commit 89 (89 passes); relay:
// relay.after-claim 100 (240 passes)"; without counts, "fault points reached: ..."; "" when no
// point was reached or coverage was not measured.
func reachedText(r result.CellResult) string {
	runs := coverageRuns(r.Coverage)
	var parts []string
	for _, rc := range r.Coverage {
		if len(rc.Reached) == 0 {
			continue
		}
		points := make([]string, len(rc.Reached))
		for i, p := range rc.Reached {
			points[i] = p
			if runs > 0 {
				points[i] += fmt.Sprintf(" %d", rc.RunsReached[p])
			}
			points[i] += passesText(rc, p)
		}
		parts = append(parts, rc.Role+": "+strings.Join(points, ", "))
	}
	if len(parts) == 0 {
		return ""
	}
	if runs == 0 {
		return "fault points reached: " + strings.Join(parts, "; ")
	}
	return fmt.Sprintf("runs that reached each fault point, of %d: %s", runs, strings.Join(parts, "; "))
}

// partlyReachedText names the declared fault points that some of a cell's runs reached and
// others did not, each with the runs that reached it and the times they passed it: "fault points
// only some of the 100 runs reached: producer.after-commit 89 (89 passes), consumer.after-effect
// 91 (97 passes)"; "" when every point some run reached was reached by every run, or the runs were
// not counted.
func partlyReachedText(r result.CellResult) string {
	runs := coverageRuns(r.Coverage)
	if runs == 0 {
		return ""
	}
	var points []string
	for _, rc := range r.Coverage {
		for _, p := range rc.Reached {
			if n := rc.RunsReached[p]; n < runs {
				points = append(points, fmt.Sprintf("%s %d%s", p, n, passesText(rc, p)))
			}
		}
	}
	if len(points) == 0 {
		return ""
	}
	return fmt.Sprintf("fault points only some of the %d runs reached: %s", runs, strings.Join(points, ", "))
}

// coverageSummary says, for a matrix, how well its cells' runs covered their declared fault
// points: the cells where every run reached every point, those where some runs missed some (with
// the least reached point of all, and the times its runs passed it), and those with a point no run
// reached (listed apart). "" when no cell counted its runs' points.
func coverageSummary(results []result.CellResult) string {
	var counted, every, some, none int
	var least struct {
		cell     result.Cell
		point    string
		n, runs  int
		passes   string
		assigned bool
	}
	for _, r := range results {
		runs := coverageRuns(r.Coverage)
		if runs == 0 {
			continue
		}
		counted++
		partly := false
		for _, rc := range r.Coverage {
			for _, p := range rc.Reached {
				n := rc.RunsReached[p]
				if n >= runs {
					continue
				}
				partly = true
				// n/runs < least.n/least.runs, without division.
				if !least.assigned || n*least.runs < least.n*runs {
					least.cell, least.point, least.n, least.runs, least.assigned = r.Cell(), p, n, runs, true
					least.passes = passesText(rc, p)
				}
			}
		}
		switch {
		case len(r.Coverage.Unreached()) > 0:
			none++
		case partly:
			some++
		default:
			every++
		}
	}
	if counted == 0 {
		return ""
	}
	parts := []string{fmt.Sprintf("in %d of %d cells every run reached every declared point", every, counted)}
	if some > 0 {
		parts = append(parts, fmt.Sprintf("in %d some runs missed some (the least reached: %s in %d of %d runs%s of %s)",
			some, least.point, least.n, least.runs, least.passes, least.cell))
	}
	if none > 0 {
		parts = append(parts, fmt.Sprintf("in %d a point no run reached (listed below)", none))
	}
	return "fault points: " + strings.Join(parts, "; ")
}
