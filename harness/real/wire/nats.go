package wire

import (
	"bytes"
	"strconv"
	"strings"
)

// NATS protocol events (the client's text protocol, nats.io/documentation/reference/reference-protocols).
const (
	// NATSPublish: upstream PUB or HPUB to any subject but a JetStream ack's: a publish, with its
	// reply subject (where a JetStream publish's PubAck comes back) and its Nats-Msg-Id header.
	NATSPublish Kind = "nats.publish"
	// NATSReply: downstream MSG or HMSG that is not a JetStream delivery: a reply to a request,
	// such as the PubAck of a publish (Event.Subject is the request's reply subject).
	NATSReply Kind = "nats.reply"
	// NATSDeliver: downstream MSG or HMSG whose reply subject is a JetStream ack subject: a
	// message a consumer fetched (DeliveryTag its stream sequence, Redelivered when the server
	// delivered it before).
	NATSDeliver Kind = "nats.deliver"
	// NATSAck: upstream PUB of "+ACK" (or an empty body) to a JetStream ack subject: a consumer's ack.
	NATSAck Kind = "nats.ack"
	// NATSNack: upstream PUB of "-NAK" or "+TERM" to a JetStream ack subject.
	NATSNack Kind = "nats.nack"
)

// NATS is the protocol of a link to a NATS server.
const NATS Proto = "nats"

// maxNATSLine bounds a NATS control line (the server's max_control_line is 4 KiB by default; an
// INFO may be longer); a longer one means the stream is not what the parser thinks.
const maxNATSLine = 64 << 10

// jsAckPrefix starts the reply subject of a JetStream delivery, and the subject of its ack.
const jsAckPrefix = "$JS.ACK."

// natsParser frames one direction of a NATS connection: control lines ending in CRLF, and for
// PUB, HPUB, MSG and HMSG a payload of the announced size and a CRLF. A message op is held whole
// and is one event; every other line passes as it comes.
type natsParser struct {
	buf []byte // bytes not yet framed
}

func (p *natsParser) feed(f *flow, b []byte) {
	p.buf = append(p.buf, b...)
	at := 0
	for f.parsing() {
		rest := p.buf[at:]
		eol := bytes.Index(rest, []byte("\r\n"))
		if eol < 0 {
			if len(rest) > maxNATSLine {
				p.buf = p.buf[at:]
				f.goOpaque(nil)
				return
			}
			break
		}
		line := rest[:eol]
		op, args := natsOp(line)
		size, ok := 0, true
		switch op {
		case "PUB", "HPUB", "MSG", "HMSG":
			size, ok = natsSize(args)
		}
		if !ok {
			p.buf = p.buf[at:]
			f.goOpaque(nil)
			return
		}
		if size == 0 && op != "PUB" && op != "HPUB" && op != "MSG" && op != "HMSG" {
			f.pass(rest[:eol+2])
			at += eol + 2
			continue
		}
		total := eol + 2 + size + 2
		if size > maxEvent {
			p.buf = p.buf[at:]
			f.goOpaque(nil)
			return
		}
		if len(rest) < total {
			break
		}
		if !bytes.Equal(rest[total-2:total], []byte("\r\n")) {
			p.buf = p.buf[at:]
			f.goOpaque(nil)
			return
		}
		whole := rest[:total:total]
		at += total
		e, ok := natsEvent(op, args, rest[eol+2:total-2], f.dir == dirUp)
		if !ok {
			f.pass(whole)
			continue
		}
		f.begin(e)
		f.part(whole)
		f.end()
	}
	if !f.parsing() {
		return
	}
	p.buf = p.buf[:copy(p.buf, p.buf[at:])]
}

// natsOp splits a control line into its operation (upper case) and arguments.
func natsOp(line []byte) (string, []string) {
	fields := strings.Fields(string(line))
	if len(fields) == 0 {
		return "", nil
	}
	return strings.ToUpper(fields[0]), fields[1:]
}

// natsSize is the payload size a message op announces: its last argument (HPUB and HMSG: the
// total of headers and body).
func natsSize(args []string) (int, bool) {
	if len(args) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(args[len(args)-1])
	return n, err == nil && n >= 0
}

// natsEvent is the event of a message op: PUB/HPUB subject [reply] [hdr] size upstream,
// MSG/HMSG subject sid [reply] [hdr] size downstream.
func natsEvent(op string, args []string, payload []byte, up bool) (Event, bool) {
	headers := op == "HPUB" || op == "HMSG"
	named := len(args) - 1 // subject, [sid], [reply], [hdr]
	if headers {
		named--
	}
	var subject, reply string
	switch {
	case up && (op == "PUB" || op == "HPUB") && (named == 1 || named == 2):
		subject = args[0]
		if named == 2 {
			reply = args[1]
		}
	case !up && (op == "MSG" || op == "HMSG") && (named == 2 || named == 3):
		subject = args[0]
		if named == 3 {
			reply = args[2]
		}
	default:
		return Event{}, false
	}
	body := payload
	var id string
	if headers {
		hlen, err := strconv.Atoi(args[len(args)-2])
		if err != nil || hlen < 0 || hlen > len(payload) {
			return Event{}, false
		}
		id = natsHeader(payload[:hlen], "Nats-Msg-Id")
		body = payload[hlen:]
	}
	e := Event{Subject: subject, Reply: reply, MessageID: id}
	switch {
	case up && strings.HasPrefix(subject, jsAckPrefix):
		e.DeliveryTag, _, _ = jsAckInfo(subject)
		switch b := string(bytes.TrimSpace(body)); {
		case b == "" || b == "+ACK":
			e.Kind = NATSAck
		case strings.HasPrefix(b, "-NAK") || strings.HasPrefix(b, "+TERM"):
			e.Kind = NATSNack
		default:
			return Event{}, false // +WPI, +NXT: not a settlement
		}
	case up:
		e.Kind = NATSPublish
	case strings.HasPrefix(reply, jsAckPrefix):
		e.Kind = NATSDeliver
		var delivered uint64
		e.DeliveryTag, delivered, _ = jsAckInfo(reply)
		e.Redelivered = delivered > 1
	default:
		e.Kind = NATSReply
	}
	return e, true
}

// jsAckInfo reads a JetStream ack subject: $JS.ACK.<stream>.<consumer>.<delivered>.<stream
// seq>.<consumer seq>.<timestamp>.<pending> (servers before 2.10), or the longer form with a
// domain and an account hash first (2.10 on, with a random token at the end).
func jsAckInfo(subject string) (streamSeq, delivered uint64, ok bool) {
	t := strings.Split(subject, ".")
	var d, s string
	switch {
	case len(t) == 9:
		d, s = t[4], t[5]
	case len(t) >= 11:
		d, s = t[6], t[7]
	default:
		return 0, 0, false
	}
	dn, err1 := strconv.ParseUint(d, 10, 64)
	sn, err2 := strconv.ParseUint(s, 10, 64)
	return sn, dn, err1 == nil && err2 == nil
}

// natsHeader reads header key from a NATS header block ("NATS/1.0\r\nKey: value\r\n...\r\n\r\n"),
// the key compared without regard to case.
func natsHeader(block []byte, key string) string {
	lines := strings.Split(string(block), "\r\n")
	for _, l := range lines[min(1, len(lines)):] {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), key) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// partial returns the bytes not yet forwarded: a line or message being read.
func (p *natsParser) partial() []byte { return append([]byte(nil), p.buf...) }
