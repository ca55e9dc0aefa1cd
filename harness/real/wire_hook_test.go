package real

import (
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/wire"
	"github.com/deliveryharness/harness/harness/real/worker"
)

// TestWireHookActsOnItsEventOnly: an armed fault acts on the one protocol event of its operation,
// once: the next COMMIT reply or ack on the link, the confirm that answers its own publish (by
// connection, channel and delivery tag, a multiple confirm that covers it included), and on
// nothing once it has been disarmed.
func TestWireHookActsOnItsEventOnly(t *testing.T) {
	const pass, withhold, drop, reset = wire.Pass, wire.Withhold, wire.Drop, wire.DropReset
	publish := func(conn uint64, msg string) wire.Event {
		return wire.Event{Kind: wire.AMQPPublish, Upstream: true, Conn: conn, Channel: 1, MessageID: msg}
	}
	confirm := func(conn, tag uint64, multiple bool) wire.Event {
		return wire.Event{Kind: wire.AMQPConfirm, Conn: conn, Channel: 1, DeliveryTag: tag, Multiple: multiple}
	}
	commitArm := func() *wireArm {
		return &wireArm{kind: wire.PGCommit, act: withhold, at: worker.GateCommit, until: worker.GateCommitDone}
	}
	confirmArm := func(msg string) *wireArm {
		return &wireArm{kind: wire.AMQPConfirm, act: drop, at: worker.GatePublish, until: worker.GateConfirmDone, msg: msg}
	}
	ackArm := func() *wireArm {
		return &wireArm{kind: wire.AMQPAck, act: reset, at: worker.GateAck, until: worker.GateAckDone}
	}
	type step struct {
		ev   wire.Event
		want wire.Action
	}
	for _, tc := range []struct {
		name     string
		arm      *wireArm
		disarmed bool // disarmed before the events come
		steps    []step
		op       string // the timeline's event, when one is acted on
	}{
		{name: "the next COMMIT reply, once", arm: commitArm(), op: history.OpCommit, steps: []step{
			{wire.Event{Kind: wire.PGReady}, pass},
			{wire.Event{Kind: wire.PGCommit, Tag: "COMMIT"}, withhold},
			{wire.Event{Kind: wire.PGCommit, Tag: "COMMIT"}, pass},
		}},
		{name: "a slot advance's ReadyForQuery", arm: &wireArm{kind: wire.PGReady, act: withhold, at: worker.GateCommit, until: worker.GateCommitDone},
			op: history.OpAdvance, steps: []step{{wire.Event{Kind: wire.PGReady}, withhold}, {wire.Event{Kind: wire.PGReady}, pass}}},
		{name: "the confirm of its own publish, not an earlier one's", arm: confirmArm("order-2"), op: history.OpConfirm, steps: []step{
			{publish(1, "order-1"), pass}, {publish(1, "order-2"), pass}, {publish(1, "order-3"), pass},
			{confirm(1, 1, false), pass}, {confirm(1, 2, false), drop}, {confirm(1, 3, false), pass},
		}},
		{name: "a multiple confirm that covers its publish", arm: confirmArm("order-2"), op: history.OpConfirm, steps: []step{
			{publish(1, "order-1"), pass}, {publish(1, "order-2"), pass}, {confirm(1, 2, true), drop},
		}},
		{name: "no confirm before its publish, nor on another connection", arm: confirmArm("order-1"), steps: []step{
			{confirm(1, 1, false), pass}, {publish(2, "order-1"), pass}, {confirm(1, 1, false), pass}, {confirm(3, 1, false), pass},
		}},
		{name: "tags number from 1 again on a channel opened again", arm: confirmArm("order-2"), op: history.OpConfirm, steps: []step{
			{publish(1, "order-1"), pass}, {wire.Event{Kind: wire.AMQPChannelClose, Conn: 1, Channel: 1}, pass},
			{publish(1, "order-2"), pass}, {confirm(1, 2, false), pass}, {confirm(1, 1, false), drop},
		}},
		{name: "the next ack, once", arm: ackArm(), op: history.OpAck, steps: []step{
			{wire.Event{Kind: wire.AMQPDeliver, Conn: 1, Channel: 1, DeliveryTag: 2}, pass},
			{wire.Event{Kind: wire.AMQPNack, Upstream: true, Conn: 1, Channel: 1, DeliveryTag: 1}, pass},
			{wire.Event{Kind: wire.AMQPAck, Upstream: true, Conn: 1, Channel: 1, DeliveryTag: 2}, reset},
			{wire.Event{Kind: wire.AMQPAck, Upstream: true, Conn: 2, Channel: 1, DeliveryTag: 1}, pass},
		}},
		{name: "nothing once disarmed", arm: ackArm(), disarmed: true, steps: []step{
			{wire.Event{Kind: wire.AMQPAck, Upstream: true, Conn: 1, Channel: 1, DeliveryTag: 1}, pass},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{epoch: time.Now(), held: newHeld()}
			h := newWireHook(r, "worker", "worker"+proxyAMQP)
			tc.arm.fired = make(chan struct{})
			h.arm(tc.arm)
			if tc.disarmed {
				h.disarm(tc.arm)
			}
			for i, s := range tc.steps {
				if got := h.Decide(s.ev); got != s.want {
					t.Errorf("step %d (%s): %s, want %s", i, s.ev.Kind, got, s.want)
				}
			}
			switch {
			case tc.op == "" && len(r.events) > 0:
				t.Errorf("timeline %v, want nothing", r.events)
			case tc.op != "" && (len(r.events) != 1 || r.events[0].Op != tc.op || r.events[0].Outcome != history.Unknown):
				t.Errorf("timeline %v, want one %s event with outcome unknown", r.events, tc.op)
			}
		})
	}
}

// TestWireArmEndsAtItsOperationsEnd: an armed fault's operation is over at its "-done" gate, or at
// the gate of the next attempt at the same operation; a gate that names another message (another
// publish of a batch) leaves it armed.
func TestWireArmEndsAtItsOperationsEnd(t *testing.T) {
	confirm := &wireArm{kind: wire.AMQPConfirm, at: worker.GatePublish, until: worker.GateConfirmDone, msg: "order-2"}
	commit := &wireArm{kind: wire.PGCommit, at: worker.GateCommit, until: worker.GateCommitDone}
	for _, tc := range []struct {
		arm  *wireArm
		gate worker.Gate
		want bool
	}{
		{commit, worker.Gate{Kind: worker.GateCommitDone}, true},
		{commit, worker.Gate{Kind: worker.GateCommit}, true},
		{commit, worker.Gate{Kind: worker.GateDB}, false},
		{commit, worker.Gate{Kind: worker.GatePoint, Point: "consumer.after-commit"}, false},
		{confirm, worker.Gate{Kind: worker.GateConfirmDone, Msg: "order-2"}, true},
		{confirm, worker.Gate{Kind: worker.GatePublish, Msg: "order-2"}, true},
		{confirm, worker.Gate{Kind: worker.GateConfirmDone, Msg: "order-1"}, false},
		{confirm, worker.Gate{Kind: worker.GatePublish, Msg: "order-3"}, false},
		{confirm, worker.Gate{Kind: worker.GateBroker}, false},
	} {
		if got := tc.arm.endsAt(tc.gate); got != tc.want {
			t.Errorf("%s armed at %s, gate %s %s: over %v, want %v", tc.arm.kind, tc.arm.at, tc.gate.Kind, tc.gate.Msg, got, tc.want)
		}
	}
}
