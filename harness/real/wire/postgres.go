package wire

import (
	"bytes"
	"encoding/binary"
)

// maxPGMessage bounds a PostgreSQL message's length (the server's own limit is 1 GiB); a longer
// one means the stream is not what the parser thinks, and the link goes opaque.
const maxPGMessage = 1 << 30

// maxKept bounds a CommandComplete the parser keeps whole to read its tag.
const maxKept = 1 << 10

// pgBackend marks the message types a PostgreSQL server sends (protocol 3.0).
var pgBackend = func() (t [256]bool) {
	for _, c := range []byte("RKSZTDCENA123nstGHWdcIVv") {
		t[c] = true
	}
	return t
}()

// pgParser frames the server's side of a PostgreSQL connection: typed messages (a type byte
// and an int32 length that counts itself). It keeps whole only CommandComplete and
// ReadyForQuery; every other message streams through as it comes.
type pgParser struct {
	started bool    // past the answers to SSLRequest/GSSENCRequest at the start
	hdr     [5]byte // the message header being read
	nh      int
	inMsg   bool   // reading a message's body
	left    int    // its bytes still to come
	keep    bool   // the message is kept whole (C, Z)
	msg     []byte // the kept message, header included
}

func (p *pgParser) feed(f *flow, b []byte) {
	for len(b) > 0 && f.parsing() {
		if !p.started {
			switch b[0] {
			case 'N': // encryption refused: plain messages follow
				f.pass(b[:1])
				b = b[1:]
				continue
			case 'S', 'G', 0x16: // TLS or GSS encryption accepted, or direct TLS
				f.goOpaque(b)
				return
			}
			p.started = true
		}
		if !p.inMsg {
			n := copy(p.hdr[p.nh:], b)
			p.nh += n
			b = b[n:]
			if p.nh < len(p.hdr) {
				return
			}
			typ, length := p.hdr[0], binary.BigEndian.Uint32(p.hdr[1:])
			if !pgBackend[typ] || length < 4 || length > maxPGMessage {
				f.goOpaque(b) // release passes the header
				return
			}
			p.nh = 0
			p.inMsg, p.left = true, int(length)-4
			p.keep = (typ == 'C' && p.left <= maxKept) || (typ == 'Z' && p.left == 1)
			if p.keep {
				p.msg = append(p.msg[:0], p.hdr[:]...)
			} else {
				p.add(f, p.hdr[:])
			}
		}
		m := min(p.left, len(b))
		if p.keep {
			p.msg = append(p.msg, b[:m]...)
		} else {
			p.add(f, b[:m])
		}
		p.left -= m
		b = b[m:]
		if p.left == 0 {
			p.inMsg = false
			if p.keep {
				p.keep = false
				p.message(f, p.msg)
			}
		}
	}
}

// add forwards b, or holds it with the open PGCommit: everything from the CommandComplete to
// the ReadyForQuery belongs to the event.
func (p *pgParser) add(f *flow, b []byte) {
	if f.ev != nil {
		f.part(b)
		return
	}
	f.pass(b)
}

// message handles a kept message.
func (p *pgParser) message(f *flow, m []byte) {
	switch m[0] {
	case 'C':
		tag := m[5:]
		if i := bytes.IndexByte(tag, 0); i >= 0 {
			tag = tag[:i]
		}
		if f.ev == nil && string(tag) == "COMMIT" {
			f.begin(Event{Kind: PGCommit, Tag: "COMMIT"})
		}
		p.add(f, m)
	case 'Z':
		if f.ev == nil {
			f.begin(Event{Kind: PGReady})
		}
		f.part(m)
		f.end()
	}
}

// partial returns the bytes of a message not yet forwarded: a header being read, or a kept
// message not yet whole.
func (p *pgParser) partial() []byte {
	switch {
	case p.keep && p.inMsg:
		return append([]byte(nil), p.msg...)
	case !p.inMsg && p.nh > 0:
		return append([]byte(nil), p.hdr[:p.nh]...)
	}
	return nil
}
