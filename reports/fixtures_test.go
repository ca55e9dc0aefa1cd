package reports

import (
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios/result"
)

func ev(t int64, proc, op string, out history.Outcome, msg, detail string) history.Event {
	key := ""
	switch op {
	case history.OpInsert, history.OpApply, history.OpPublish, history.OpConfirm, history.OpProduce,
		history.OpReceive, history.OpAck, history.OpEnqueue, history.OpDeliver, history.OpRequeue:
		key = msg
	}
	return history.Event{Time: t, Proc: proc, Op: op, Outcome: out, Msg: msg, Key: key, Detail: detail}
}

// commitOf is proc's commit of a transaction that touched several messages, as the recorder
// writes it: the ids in Msgs and listed in the detail.
func commitOf(t int64, proc string, out history.Outcome, msgs ...string) history.Event {
	return history.Event{Time: t, Proc: proc, Op: history.OpCommit, Outcome: out, Msgs: msgs, Detail: strings.Join(msgs, " ")}
}

// from, to, redelivered and guarded set an event's fields as the backends do.
func from(e history.Event, proc string) history.Event        { e.From = proc; return e }
func to(e history.Event, proc string) history.Event          { e.To = proc; return e }
func redelivered(e history.Event) history.Event              { e.Redelivered = true; return e }
func guarded(e history.Event, g history.Guard) history.Event { e.Guard = g; return e }

var order1 = history.Message{ID: "order-1", Key: "order-1", Amount: 4200, Kind: "OrderPlaced"}

// duplicateCE is double-write/naive under crash-consumer: consumer-1 pays order-1, commits, dies
// before its ack; the broker redelivers to consumer-2, which pays it again.
func duplicateCE() *result.Counterexample {
	crash := history.Fault{Kind: "crash-consumer", Target: "consumer-1", Point: "consumer.after-effect", Nth: 1}
	sc := history.Scenario{
		Producer: "double-write", Consumer: "naive", Workload: "orders", Fault: "crash-consumer",
		Seed: 17, Commands: []history.Message{order1}, Faults: []history.Fault{crash},
		Consumers: 2, Prefetch: 1, Batch: 1,
	}
	const ok, info = history.OK, history.Info
	events := []history.Event{
		ev(7, "producer", history.OpInsert, ok, "order-1", ""),
		ev(8, "producer", history.OpCommit, ok, "order-1", ""),
		from(ev(10, "broker", history.OpEnqueue, info, "order-1", "from producer"), "producer"),
		to(ev(10, "broker", history.OpDeliver, info, "order-1", "to consumer-1"), "consumer-1"),
		ev(10, "producer", history.OpPublish, ok, "order-1", ""),
		ev(11, "consumer-1", history.OpReceive, ok, "order-1", ""),
		ev(12, "producer", history.OpConfirm, ok, "order-1", ""),
		ev(14, "producer", history.OpProduce, ok, "order-1", ""),
		ev(15, "consumer-1", history.OpApply, ok, "order-1", ""),
		ev(16, "consumer-1", history.OpCommit, ok, "order-1", ""),
		ev(18, "consumer-1", history.OpFault, info, "", crash.String()),
		ev(18, "consumer-1", history.OpCrash, info, "", "consumer.after-effect"),
		from(ev(18, "broker", history.OpRequeue, info, "order-1", "process died (consumer-1)"), "consumer-1"),
		redelivered(to(ev(18, "broker", history.OpDeliver, info, "order-1", "to consumer-2, redelivered"), "consumer-2")),
		redelivered(ev(19, "consumer-2", history.OpReceive, ok, "order-1", "redelivered")),
		ev(22, "consumer-2", history.OpApply, ok, "order-1", ""),
		ev(23, "consumer-2", history.OpCommit, ok, "order-1", ""),
		ev(25, "consumer-2", history.OpAck, ok, "order-1", ""),
		ev(48, "consumer-1", history.OpRestart, info, "", ""),
		ev(48, "harness", history.OpQuiesce, info, "", ""),
	}
	h := &history.History{
		Backend:  "sim",
		Scenario: sc,
		Events:   events,
		Final: history.Final{
			Committed: []history.Message{order1},
			Effects:   []history.Effect{{Msg: "order-1", Key: "order-1", Amount: 4200}, {Msg: "order-1", Key: "order-1", Amount: 4200}},
		},
		Quiesced: true,
	}
	v := invariants.Violation{
		Invariant: "no-duplicate-effect", Key: "order-1", Msgs: []string{"order-1"},
		Detail:   "order-1 paid 2 times (payments for order-1: 2)",
		Evidence: h.About("order-1"),
	}
	return &result.Counterexample{Seed: 17, Invariant: "no-duplicate-effect", Scenario: sc, Violations: []invariants.Violation{v}, History: h}
}

// lostCE is double-write/naive under partition-broker: the producer commits order-1, its link to
// the broker is cut, every publish fails and it gives up.
func lostCE() *result.Counterexample {
	cut := history.Fault{Kind: "partition-broker", Target: "producer", Nth: 1, Duration: 40}
	sc := history.Scenario{
		Producer: "double-write", Consumer: "naive", Workload: "orders", Fault: "partition-broker",
		Seed: 4, Commands: []history.Message{order1}, Faults: []history.Fault{cut},
		Consumers: 1, Prefetch: 1, Batch: 1,
	}
	const ok, fail, info = history.OK, history.Fail, history.Info
	events := []history.Event{
		ev(3, "producer", history.OpInsert, ok, "order-1", ""),
		ev(4, "producer", history.OpCommit, ok, "order-1", ""),
		ev(5, "producer", history.OpFault, info, "", cut.String()),
		ev(5, "producer", history.OpPublish, fail, "order-1", "link cut"),
		ev(6, "producer", history.OpPublish, fail, "order-1", "link cut"),
		ev(7, "producer", history.OpPublish, fail, "order-1", "link cut"),
		ev(8, "producer", history.OpProduce, fail, "order-1", "publish: link cut"),
		ev(45, "harness", history.OpHeal, info, "", "broker link of producer restored"),
		ev(145, "harness", history.OpQuiesce, info, "", ""),
	}
	h := &history.History{
		Backend:  "sim",
		Scenario: sc,
		Events:   events,
		Final:    history.Final{Committed: []history.Message{order1}},
		Quiesced: true,
	}
	v := invariants.Violation{
		Invariant: "no-lost-effect", Key: "order-1", Msgs: []string{"order-1"},
		Detail:   "order-1 committed but never paid (payments for order-1: 0)",
		Evidence: h.About("order-1"),
	}
	return &result.Counterexample{Seed: 4, Invariant: "no-lost-effect", Scenario: sc, Violations: []invariants.Violation{v}, History: h}
}

func cellResult(p, c, w, f string, runs int, violations map[invariants.Name]int, expected []invariants.Name, matches bool, reason string) result.CellResult {
	return result.CellResult{
		Producer: p, Consumer: c, Workload: w, Fault: f, Backend: "sim", Runs: runs,
		Violations: violations, Expected: expected, Matches: matches, Reason: reason,
	}
}

func ordersCounts(dup, lost, phantom int) map[invariants.Name]int {
	return map[invariants.Name]int{"no-duplicate-effect": dup, "no-lost-effect": lost, "no-phantom-effect": phantom}
}

// fixtureResults is a small catalogue run: two workloads, a duplicate and a lost effect with
// their counterexamples, a cell that differs from its expectation and a cell with harness errors.
func fixtureResults() []result.CellResult {
	dup := []invariants.Name{"no-duplicate-effect"}
	dupCell := cellResult("double-write", "naive", "orders", "crash-consumer", 100, ordersCounts(37, 0, 0), dup, true,
		"the consumer dies after the payment commits and before its ack; the broker redelivers and the naive consumer pays again")
	dupCell.Counterexample = duplicateCE()
	lostCell := cellResult("double-write", "naive", "orders", "partition-broker", 100, ordersCounts(0, 12, 0), []invariants.Name{"no-lost-effect"}, true,
		"the order commits, then the publish fails and nothing retries it")
	lostCell.Counterexample = lostCE()
	racy := cellResult("outbox", "inbox-racy", "orders", "concurrent-consumers", 100, ordersCounts(0, 0, 0), dup, false,
		"two consumers both find the message unprocessed before either records it, and both pay")
	errs := cellResult("outbox", "inbox", "orders", "concurrent-consumers", 100, ordersCounts(0, 0, 0), nil, true,
		"the inbox's unique key makes the second insert fail, so the second payment rolls back")
	errs.Errors = 2
	prices := func(lost, phantom, conv int) map[invariants.Name]int {
		return map[invariants.Name]int{"no-lost-effect": lost, "no-phantom-effect": phantom, "converges": conv}
	}
	withCost := func(r result.CellResult, c result.Cost) result.CellResult {
		r.Cost = &c
		return r
	}
	return []result.CellResult{
		withCost(cellResult("double-write", "naive", "orders", "none", 100, ordersCounts(0, 0, 0), nil, true, "no fault, nothing to go wrong"),
			result.Cost{Events: 300, DBStatements: 4, BrokerOps: 4, LatencyP50: 17, LatencyP99: 28}),
		dupCell,
		lostCell,
		withCost(cellResult("outbox", "inbox", "orders", "none", 100, ordersCounts(0, 0, 0), nil, true, "no fault, nothing to go wrong"),
			result.Cost{Events: 300, DBStatements: 9.6, BrokerOps: 4, LatencyP50: 49, LatencyP99: 80}),
		cellResult("outbox", "inbox", "orders", "crash-consumer", 100, ordersCounts(0, 0, 0), nil, true,
			"the redelivered copy finds its inbox row and is acked without a second payment"),
		racy,
		errs,
		cellResult("publish-first", "natural", "prices", "crash-producer", 100, prices(0, 21, 4), []invariants.Name{"no-phantom-effect", "converges"}, true,
			"the price change is published before its transaction commits; a crash in between leaves a price nobody set"),
		cellResult("outbox", "natural", "prices", "none", 100, prices(0, 0, 0), nil, true, "no fault, nothing to go wrong"),
		cellResult("outbox", "natural", "prices", "crash-producer", 100, prices(0, 0, 0), nil, true,
			"the outbox row commits with the price change or not at all"),
	}
}
