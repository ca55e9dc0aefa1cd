package wire

import (
	"bytes"
	"encoding/binary"
)

// amqpHeader opens an AMQP 0-9-1 client's stream.
var amqpHeader = []byte("AMQP\x00\x00\x09\x01")

// maxFrame bounds an AMQP frame's size; a larger one means the stream is not what the parser
// thinks, and the link goes opaque.
const maxFrame = 128 << 20

// maxEvent bounds the bytes of a publish or delivery held while its body comes; a larger
// message goes through unseen.
const maxEvent = 128 << 20

// AMQP frame types, the basic class and its methods.
const (
	frameMethod    = 1
	frameHeader    = 2
	frameBody      = 3
	frameHeartbeat = 8
	frameEnd       = 0xCE

	classBasic = 60
	// the channel class and its close method
	classChannel       = 20
	methodChannelClose = 40
	methodPublish      = 40
	methodDeliver      = 60
	methodAck          = 80
	methodReject       = 90
	methodNack         = 120
)

// amqpParser frames one direction of an AMQP 0-9-1 connection: type(1) channel(2) size(4)
// payload frame-end(0xCE). It keeps whole frames and assembles publishes and deliveries (the
// method frame, its content header and body frames on the same channel).
type amqpParser struct {
	started bool   // past the client's protocol header
	head    []byte // the protocol header so far
	buf     []byte // bytes not yet framed

	ch    uint16 // the open content event's channel
	stage int    // 1: its content header is next, 2: body frames are
	left  uint64 // body bytes still to come
	held  int    // bytes held for it
}

func (p *amqpParser) feed(f *flow, b []byte) {
	if f.dir == dirUp && !p.started {
		n := min(len(amqpHeader)-len(p.head), len(b))
		p.head = append(p.head, b[:n]...)
		b = b[n:]
		if !bytes.HasPrefix(amqpHeader, p.head) {
			f.goOpaque(b) // release passes the header so far
			return
		}
		if len(p.head) < len(amqpHeader) {
			return
		}
		f.pass(p.head)
		p.head, p.started = nil, true
	}
	p.buf = append(p.buf, b...)
	at := 0
	for f.parsing() && len(p.buf)-at >= 7 {
		fr := p.buf[at:]
		typ, ch, size := fr[0], binary.BigEndian.Uint16(fr[1:3]), binary.BigEndian.Uint32(fr[3:7])
		if (typ != frameMethod && typ != frameHeader && typ != frameBody && typ != frameHeartbeat) || size > maxFrame {
			p.buf = p.buf[at:]
			f.goOpaque(nil) // release passes the rest of buf
			return
		}
		total := 8 + int(size)
		if len(fr) < total {
			break
		}
		if fr[total-1] != frameEnd {
			p.buf = p.buf[at:]
			f.goOpaque(nil)
			return
		}
		at += total
		p.frame(f, typ, ch, fr[:total:total])
	}
	if !f.parsing() {
		return
	}
	// Keep the unframed rest at the start of buf; the frames handled were copied out.
	p.buf = p.buf[:copy(p.buf, p.buf[at:])]
}

// frame handles one whole frame.
func (p *amqpParser) frame(f *flow, typ byte, ch uint16, fr []byte) {
	payload := fr[7 : len(fr)-1]
	if f.ev != nil {
		if ch != p.ch || typ == frameHeartbeat {
			f.pass(fr) // another channel's frame: it keeps its place
			return
		}
		p.held += len(fr)
		switch {
		case p.held > maxEvent:
		case p.stage == 1 && typ == frameHeader:
			size, id, ok := contentHeader(payload)
			if !ok {
				break
			}
			f.ev.MessageID = id
			f.part(fr)
			if size == 0 {
				p.stage = 0
				f.end()
				return
			}
			p.stage, p.left = 2, size
			return
		case p.stage == 2 && typ == frameBody:
			f.part(fr)
			if uint64(len(payload)) >= p.left {
				p.stage = 0
				f.end()
				return
			}
			p.left -= uint64(len(payload))
			return
		}
		// Not the content the method announced: give the event up and read this frame afresh.
		p.stage = 0
		f.abandon()
	}
	if typ != frameMethod || len(payload) < 4 {
		f.pass(fr)
		return
	}
	class, method, args := binary.BigEndian.Uint16(payload), binary.BigEndian.Uint16(payload[2:]), payload[4:]
	if class == classChannel && method == methodChannelClose {
		// Either side closes a channel: the broker requeues what was delivered on it and not
		// acknowledged.
		f.begin(Event{Kind: AMQPChannelClose, Channel: ch})
		f.part(fr)
		f.end()
		return
	}
	if class != classBasic {
		f.pass(fr)
		return
	}
	up := f.dir == dirUp
	switch {
	case method == methodPublish && up:
		p.content(f, Event{Kind: AMQPPublish, Channel: ch}, fr)
		return
	case method == methodDeliver && !up:
		if e, ok := deliverArgs(args); ok {
			e.Channel = ch
			p.content(f, e, fr)
			return
		}
	case method == methodAck || (up && (method == methodNack || method == methodReject)):
		if len(args) < 9 {
			break
		}
		e := Event{Kind: AMQPConfirm, Channel: ch, DeliveryTag: binary.BigEndian.Uint64(args), Multiple: method != methodReject && args[8]&1 != 0}
		if up {
			e.Kind = AMQPAck
			if method != methodAck {
				e.Kind = AMQPNack
			}
		}
		f.begin(e)
		f.part(fr)
		f.end()
		return
	}
	f.pass(fr)
}

// content opens a publish or delivery: its content header and body frames follow.
func (p *amqpParser) content(f *flow, e Event, fr []byte) {
	f.begin(e)
	f.part(fr)
	p.ch, p.stage, p.left, p.held = e.Channel, 1, 0, len(fr)
}

// deliverArgs reads basic.deliver's arguments: consumer-tag, delivery-tag, redelivered.
func deliverArgs(a []byte) (Event, bool) {
	if len(a) < 1 || len(a) < 1+int(a[0])+9 {
		return Event{}, false
	}
	a = a[1+int(a[0]):]
	return Event{Kind: AMQPDeliver, DeliveryTag: binary.BigEndian.Uint64(a), Redelivered: a[8]&1 != 0}, true
}

// contentHeader reads a content header's body size and message-id property. Properties cut
// short leave the id empty.
func contentHeader(p []byte) (size uint64, id string, ok bool) {
	if len(p) < 14 {
		return 0, "", false
	}
	size = binary.BigEndian.Uint64(p[4:12])
	flags := binary.BigEndian.Uint16(p[12:14])
	rest := p[14:]
	for more := flags&1 != 0; more; { // further property-flag words (none in 0-9-1's basic class)
		if len(rest) < 2 {
			return size, "", true
		}
		more = binary.BigEndian.Uint16(rest)&1 != 0
		rest = rest[2:]
	}
	for bit := 15; bit >= 7; bit-- {
		if flags&(1<<bit) == 0 {
			continue
		}
		var n int
		switch bit {
		case 13: // headers: a table, long-uint length
			if len(rest) < 4 {
				return size, "", true
			}
			n = 4 + int(binary.BigEndian.Uint32(rest))
		case 12, 11: // delivery-mode, priority
			n = 1
		default: // content-type, content-encoding, correlation-id, reply-to, expiration, message-id
			if len(rest) < 1 {
				return size, "", true
			}
			n = 1 + int(rest[0])
		}
		if n < 0 || len(rest) < n {
			return size, "", true
		}
		if bit == 7 {
			id = string(rest[1:n])
		}
		rest = rest[n:]
	}
	return size, id, true
}

// partial returns the bytes not yet forwarded: a protocol header or frame being read.
func (p *amqpParser) partial() []byte {
	return append(append([]byte(nil), p.head...), p.buf...)
}
