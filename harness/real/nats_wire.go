package real

// The wire toxic's events on a NATS broker link: the faults armed for AMQP's protocol events act
// on NATS's counterparts. A lost confirm drops the PubAck of its message's publish (the reply on
// the publish's reply inbox); a lost ack drops the client's "+ACK" publish to the message's
// JetStream ack subject and resets the connection; a cut at a publish, its confirm or an ack
// meets the same events.

import (
	"fmt"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/wire"
)

// natsKind is the NATS event that stands for AMQP event k.
func natsKind(k wire.Kind) wire.Kind {
	switch k {
	case wire.AMQPPublish:
		return wire.NATSPublish
	case wire.AMQPConfirm:
		return wire.NATSReply
	case wire.AMQPAck:
		return wire.NATSAck
	case wire.AMQPNack:
		return wire.NATSNack
	case wire.AMQPDeliver:
		return wire.NATSDeliver
	}
	return k
}

// takesPubAck is takes for a lost confirm on NATS: the first publish of a's message after it was
// armed names its reply inbox; the reply on that inbox, on the same connection, is its PubAck.
// The caller holds the hook's lock.
func (a *wireArm) takesPubAck(ev wire.Event) bool {
	switch {
	case ev.Kind == wire.NATSPublish && a.inbox == "" && ev.Reply != "" && (a.msg == "" || ev.MessageID == a.msg):
		a.inbox, a.publish = ev.Reply, &wireChannel{conn: ev.Conn}
	case ev.Kind == wire.NATSReply && a.inbox != "" && ev.Subject == a.inbox && a.publish.conn == ev.Conn:
		return true
	}
	return false
}

// natsWireEvent is wireEvent for an event on a NATS link; ok is false for other events.
func natsWireEvent(proc string, a *wireArm, ev wire.Event) (e history.Event, ok bool) {
	e = history.Event{Proc: "harness", Outcome: history.Unknown, Msg: a.msg}
	switch ev.Kind {
	case wire.NATSPublish:
		e.Op = history.OpPublish
	case wire.NATSReply:
		e.Op = history.OpConfirm
	case wire.NATSAck, wire.NATSNack:
		e.Op = history.OpAck
	default:
		return e, false
	}
	switch {
	case a.cut != nil && (ev.Kind == wire.NATSPublish || ev.Kind == wire.NATSAck || ev.Kind == wire.NATSNack):
		e.Detail = fmt.Sprintf("%s from %s written into a link that died under it: lost, and the client saw no error", ev.Kind, proc)
	case a.cut != nil:
		e.Detail = fmt.Sprintf("%s (PubAck) to %s lost with its link: the stream stored the message, the connection died before the reply", ev.Kind, proc)
	case ev.Kind == wire.NATSReply:
		e.Detail = fmt.Sprintf("PubAck on %s to %s dropped on the wire: the stream stored the message", ev.Subject, proc)
	default:
		e.Detail = fmt.Sprintf("%s of stream sequence %d from %s dropped on the wire, and the connection reset", ev.Kind, ev.DeliveryTag, proc)
	}
	return e, true
}
