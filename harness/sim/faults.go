package sim

import (
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
)

// The simulator's table from operations to fault mechanisms. Where an operation happens is in the
// code of the port that does it (a COMMIT calls w.at(p, fault.OpCommit, "")); which fault kinds
// watch it is their declaration in package fault; what the fault that fires does is its kind's
// row here. A mechanism changes what the infrastructure does (cuts a link, closes a channel,
// withholds a reply); the operation in progress then meets that state. A new fault kind that
// watches an existing operation is one row here.

// mechanism is what fault f, firing at an operation of p (at point, for fault points), does.
type mechanism func(w *world, p *proc, f *history.Fault, point string)

// mechanisms is the simulator's mechanism of each fault kind.
var mechanisms = map[string]mechanism{
	fault.CrashProducer:       crash,
	fault.CrashRelay:          crash,
	fault.CrashConsumer:       crash,
	fault.AmbiguousCommit:     withholdReply,
	fault.LostConfirm:         withholdReply,
	fault.LostAck:             dropSubscription("connection reset, ack lost"),
	fault.ConcurrentConsumers: dropSubscription("connection dropped"),
	fault.PartitionDB:         cutDBLink,
	fault.PartitionBroker:     cutBrokerLink,
	fault.BrokerDown:          brokerDown,
	fault.BrokerRestart:       brokerRestart,
	fault.ConcurrentProducers: holdCommit,
	fault.Latency:             slowLink,
	fault.Reorder:             handBack,
	fault.NewSubscriber:       bindQueue,
	fault.LateRedelivery:      crashLate,
}

// at counts one operation op of p (at point, for fault points) for the faults whose kind
// watches it, and applies the mechanism of the one that fires.
func (w *world) at(p *proc, op fault.Op, point string) {
	if f := w.schedule.Fire(op, p.name, point); f != nil {
		w.fired(p, f, point)
	}
}

// atLink counts one operation of p on one of its links (fault.OpLink).
func (w *world) atLink(p *proc, to string) {
	if f := w.schedule.FireLink(p.name, to); f != nil {
		w.fired(p, f, "")
	}
}

// fired notes fault f and applies its kind's mechanism. It is kept out of line so that at and
// atLink, which every port call passes, stay small: a process's stack grows by copying.
//
//go:noinline
func (w *world) fired(p *proc, f *history.Fault, point string) {
	w.note(p.name, history.OpFault, "", "", f.String())
	mechanisms[f.Kind](w, p, f, point)
}

// crash kills the process at its fault point.
func crash(_ *world, p *proc, _ *history.Fault, point string) { p.crash(point) }

// withholdReply makes the reply to p's operation in progress never come: the operation takes
// effect on the server, and its client waits in vain (a COMMIT's, a publisher confirm's: on that
// channel every later confirm is lost too).
func withholdReply(_ *world, p *proc, _ *history.Fault, _ string) { p.replyWithheld = true }

// takeReplyWithheld reports whether a fault withheld the reply of the operation in progress,
// and forgets it.
func (p *proc) takeReplyWithheld() bool {
	v := p.replyWithheld
	p.replyWithheld = false
	return v
}

// dropSubscription closes the consumer's channel under it: the broker requeues what it had not
// acknowledged while the consumer goes on (with an ack that never arrives, or with the delivery
// it holds, a copy of which goes to a competing consumer).
func dropSubscription(why string) mechanism {
	return func(w *world, p *proc, _ *history.Fault, _ string) {
		if p.subCh != nil {
			w.br.close(p.subCh, why)
			p.subCh = nil
		}
	}
}

// cutDBLink cuts p's link to the database for the fault's duration: its transactions abort, and
// a COMMIT it meets never reaches the server. A fault pinned to the COMMIT (Point
// fault.SiteCommit) meets it in flight instead: the request has reached the server, which
// commits; the link dies before the reply comes back (cutInFlight).
func cutDBLink(w *world, p *proc, f *history.Fault, site string) {
	if site == fault.SiteCommit && f.Point == fault.SiteCommit {
		p.commitCut = f
		return
	}
	w.cutDB(p, f)
}

// cutInFlight is the end of a COMMIT (or an advance of the slot) that a cut met in flight, if
// one did: the link goes down now, after the server took the request, and the client is left
// with a dead connection and no reply. It reports whether it did.
func (w *world) cutInFlight(p *proc) bool {
	f := p.commitCut
	if f == nil {
		return false
	}
	p.commitCut = nil
	w.noteEvent(history.Event{Proc: "harness", Op: history.OpCommit, Outcome: history.Unknown,
		Detail: "reply to " + p.name + " lost with its link: the server took the request, the connection died before the reply"})
	w.cutDB(p, f)
	return true
}

// cutDB cuts p's database link for f's duration.
func (w *world) cutDB(p *proc, f *history.Fault) {
	w.dbCut[p.name] = true
	w.db.disconnect(p, "connection lost")
	name := p.name
	w.after(int64(max(1, f.Duration)), "database link of "+name+" restored", func() { delete(w.dbCut, name) })
}

// cutBrokerLink cuts p's link to the broker for the fault's duration: its channels close.
func cutBrokerLink(w *world, p *proc, f *history.Fault, _ string) {
	w.brokerCut[p.name] = true
	w.br.closeProc(p, "link cut")
	name := p.name
	w.after(int64(max(1, f.Duration)), "broker link of "+name+" restored", func() { delete(w.brokerCut, name) })
}

// brokerDown takes the broker down for everyone for the fault's duration: every channel closes.
func brokerDown(w *world, _ *proc, f *history.Fault, _ string) {
	w.brokerDown = true
	w.br.closeAll("broker down")
	w.after(int64(max(1, f.Duration)), "broker back up", func() { w.brokerDown = false })
}

// brokerRestart restarts the broker: every channel closes (the unacknowledged deliveries go back
// to the queue, flagged redelivered), and no one reaches it until it is back, Config.BrokerRestart
// later, longer than every client's retries. The queue and its messages are durable: what was
// enqueued survives. What a client was writing as it went down is lost (brokerOp).
func brokerRestart(w *world, _ *proc, _ *history.Fault, _ string) {
	w.brokerDown = true
	w.br.closeAll("broker restarting")
	w.after(w.cfg.BrokerRestart, "broker back after its restart", func() { w.brokerDown = false })
}

// slowLink turns p's link of the fault slow for its duration: requests still reach the server,
// replies come after the client's timeout.
func slowLink(w *world, p *proc, f *history.Fault, _ string) {
	key := link{p.name, f.Link}
	w.slow[key] = true
	w.after(int64(max(1, f.Duration)), f.Link+" link of "+p.name+" fast again", func() { delete(w.slow, key) })
}

// holdCommit makes the producer's COMMIT in progress wait, before it reaches the database, until
// an event of the other producer's has reached the broker (or the lock timeout passes): the
// change the first wrote earlier commits, and is published, later (waitForOtherProducer).
func holdCommit(_ *world, p *proc, _ *history.Fault, _ string) { p.holdCommit = true }

// waitForOtherProducer is the wait of a COMMIT that concurrent-producers holds: until the broker
// has stored one more event of the other producer's commands, or the lock timeout passes.
func (w *world) waitForOtherProducer(p *proc) {
	if !p.holdCommit {
		return
	}
	p.holdCommit = false
	w.interleaving = true // the second producer may start
	other := fault.ProducerName(2)
	if p.name == other {
		other = fault.ProducerName(1)
	}
	n := fault.ProducersOf(w.sc.Fault)
	var theirs []history.Message
	for i := 1; i <= n; i++ {
		if fault.ProducerName(i) == other {
			theirs = fault.ProducerCommands(w.sc.Commands, i, n)
		}
	}
	stored := func() int {
		c := 0
		for _, m := range theirs {
			c += w.enqueued[m.ID]
		}
		return c
	}
	before := stored()
	p.block(func() bool { return stored() > before }, w.now+w.cfg.LockTimeout)
}

// handBack makes the consumer hand the delivery it is about to handle back once the next one
// has arrived (fault.Reordering).
func handBack(_ *world, p *proc, _ *history.Fault, _ string) { p.handBack = true }

// takeHandBack reports whether the reorder fault fired at the delivery in progress, and forgets it.
func (p *proc) takeHandBack() bool {
	v := p.handBack
	p.handBack = false
	return v
}

// commitReplyLost is a COMMIT (or an advance of the slot) of p, the operation ambiguous-commit
// watches: it reports whether the reply will not come in time, withheld by the fault or late on
// a slow link.
func (w *world) commitReplyLost(p *proc) bool {
	w.at(p, fault.OpCommit, "")
	return p.takeReplyWithheld() || w.slow[link{p.name, fault.LinkDB}]
}

// dbOp is called before every database operation of p: a counted one, at a protocol site (BEGIN
// or a read of the slot: fault.SiteBegin; COMMIT or an advance of the slot: fault.SiteCommit),
// is an operation on p's database link and may cut it (partition-db); site "" is a statement
// inside a transaction, which no fault counts. It reports whether p can reach the database.
func (w *world) dbOp(p *proc, site string) bool {
	if site != "" {
		w.atLink(p, fault.LinkDB)
		w.at(p, fault.OpDB, site)
	}
	return !w.dbCut[p.name]
}

// brokerUp reports whether p can reach the broker.
func (w *world) brokerUp(p *proc) bool { return !w.brokerDown && !w.brokerCut[p.name] }

// brokerOp is called before every broker operation of p, at its protocol site (fault.SitePublish,
// SiteConfirm, SiteDeliver, SiteAck, SiteNack): it may cut p's link (partition-broker) or take the
// broker down for everyone (broker-down), and reports whether p can reach the broker. A link that
// was up before and is down after died at this very operation: a request the client was writing
// (a publish, an ack) is on the wire and goes nowhere, and the client sees no error from the
// write; it learns of the dead connection at its next read (a confirm wait, Next).
func (w *world) brokerOp(p *proc, site string) bool {
	w.atLink(p, fault.LinkBroker)
	w.at(p, fault.OpBroker, site)
	return w.brokerUp(p)
}
