package sim

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

var (
	crashKinds     = []string{fault.CrashProducer, fault.CrashRelay, fault.CrashConsumer}
	commitKinds    = []string{fault.AmbiguousCommit}
	ackKinds       = []string{fault.LostAck}
	publishKinds   = []string{fault.LostConfirm}
	receiveKinds   = []string{fault.ConcurrentConsumers}
	dbLinkKinds    = []string{fault.PartitionDB}
	brokerOpsKinds = []string{fault.PartitionBroker, fault.BrokerDown}
	latencyKinds   = []string{fault.Latency}
	reorderKinds   = []string{fault.Reorder}
)

// slowLink counts one operation of p on link for latency faults and reports whether the link is
// slow now: requests still reach the server, replies come after the client's timeout.
func (w *world) slowLink(p *proc, to string) bool {
	key := link{p.name, to}
	if f := w.schedule.FireLink(latencyKinds, p.name, to); f != nil {
		w.note(p.name, history.OpFault, "", "", f.String())
		w.slow[key] = true
		w.after(int64(max(1, f.Duration)), to+" link of "+p.name+" fast again", func() { delete(w.slow, key) })
	}
	return w.slow[key]
}

// fire counts one operation of p for the faults of the given kinds (at the named point, for
// crashes) and returns the fault that fires on it, if any, noting it in the history.
func (w *world) fire(kinds []string, p *proc, point string) *history.Fault {
	f := w.schedule.Fire(kinds, p.name, point)
	if f != nil {
		w.note(p.name, history.OpFault, "", "", f.String())
	}
	return f
}

// dbOp is called before every database operation of p: a counted one (BEGIN, COMMIT) may cut
// p's link (partition-db); it reports whether p can reach the database.
func (w *world) dbOp(p *proc, counted bool) bool {
	if !counted {
		return !w.dbCut[p.name]
	}
	w.slowLink(p, fault.LinkDB)
	if f := w.fire(dbLinkKinds, p, ""); f != nil {
		w.dbCut[p.name] = true
		w.db.disconnect(p, "connection lost")
		name := p.name
		w.after(int64(max(1, f.Duration)), "database link of "+name+" restored", func() { delete(w.dbCut, name) })
	}
	return !w.dbCut[p.name]
}

// brokerOp is called before every broker operation of p: it may cut p's link
// (partition-broker) or take the broker down for everyone (broker-down), and reports whether p
// can reach the broker.
func (w *world) brokerOp(p *proc) bool {
	w.slowLink(p, fault.LinkBroker)
	if f := w.fire(brokerOpsKinds, p, ""); f != nil {
		d := int64(max(1, f.Duration))
		switch f.Kind {
		case fault.PartitionBroker:
			w.brokerCut[p.name] = true
			w.br.closeProc(p, "link cut")
			name := p.name
			w.after(d, "broker link of "+name+" restored", func() { delete(w.brokerCut, name) })
		case fault.BrokerDown:
			w.brokerDown = true
			w.br.closeAll("broker down")
			w.after(d, "broker back up", func() { w.brokerDown = false })
		}
	}
	return !w.brokerDown && !w.brokerCut[p.name]
}
