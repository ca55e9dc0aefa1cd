package scenarios

import (
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/scenarios/result"
)

var (
	dbOps     = []string{history.OpInsert, history.OpOutbox, history.OpClaim, history.OpMark, history.OpCommit, history.OpRollback, history.OpCheck, history.OpInbox, history.OpRecord, history.OpApply, history.OpRead, history.OpAdvance}
	brokerOps = []string{history.OpPublish, history.OpConfirm, history.OpReceive, history.OpAck, history.OpNack}
)

// costMeter sums the cost of runs: a result.Cost (its doc says what is measured).
type costMeter struct {
	events, db, broker int
	latencies          []float64
	seconds            float64
	real               bool
}

// add reads one run's history.
func (m *costMeter) add(h *history.History) {
	if h == nil {
		return
	}
	committed := h.Final.Committed
	m.events += len(committed)
	m.real = m.real || h.Backend == "real"
	commitAt := map[string]int64{}
	effectAt := map[string]int64{}
	first, last := int64(-1), int64(-1)
	// Where the effect is external, an effect is the gateway's sending, not a consumer's commit.
	external := workload.EffectOf(h.Scenario.Workload) == workload.External
	for _, e := range h.Events {
		switch {
		case e.Proc == "broker" || e.Proc == "harness" || e.Proc == "gateway":
			// the infrastructure's own events are not the strategies' operations
		case slices.Contains(dbOps, e.Op):
			m.db++
		case slices.Contains(brokerOps, e.Op):
			m.broker++
		}
		if e.Op == history.OpProduce && first < 0 {
			first = e.Time
		}
		ids := e.Subjects()
		switch {
		case e.Op == history.OpCommit && e.Proc == "producer" && e.Outcome != history.Fail:
			for _, id := range ids {
				if _, ok := commitAt[id]; !ok {
					commitAt[id] = e.Time
				}
			}
		case e.Op == history.OpCommit && strings.HasPrefix(e.Proc, "consumer-") && e.Outcome == history.OK && !external,
			e.Op == history.OpSend && e.Proc == "gateway" && e.Guard != history.GuardKey:
			for _, id := range ids {
				if _, ok := effectAt[id]; !ok {
					effectAt[id] = e.Time
					last = max(last, e.Time)
				}
			}
		}
	}
	for _, c := range committed {
		at, ok := commitAt[c.ID]
		done, applied := effectAt[c.ID]
		if ok && applied && done >= at {
			m.latencies = append(m.latencies, float64(done-at))
		}
	}
	if first >= 0 && last > first {
		m.seconds += float64(last-first) / 1000
	}
}

// cost is the meter's reading; nil when no event committed.
func (m *costMeter) cost() *result.Cost {
	if m.events == 0 {
		return nil
	}
	c := &result.Cost{
		Events:       m.events,
		DBStatements: round1(float64(m.db) / float64(m.events)),
		BrokerOps:    round1(float64(m.broker) / float64(m.events)),
	}
	if len(m.latencies) > 0 {
		slices.Sort(m.latencies)
		c.LatencyP50 = percentile(m.latencies, 0.50)
		c.LatencyP99 = percentile(m.latencies, 0.99)
	}
	if m.real && m.seconds > 0 {
		c.Throughput = round1(float64(m.events) / m.seconds)
	}
	return c
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	i := int(p*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
