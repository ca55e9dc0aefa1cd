package wire

// dir is the direction of a link's stream, as far as it is known.
type dir int32

const (
	dirUnknown dir = iota
	dirUp
	dirDown
)

// segment is a piece of the bytes held while an event is open: the event's own, or another
// channel's frames that came between them.
type segment struct {
	b       []byte
	ofEvent bool
}

// flow is one direction of one connection: it frames the bytes, asks the hook about each event
// and says what to forward. It does no I/O, so that tests can drive it with any chunking.
type flow struct {
	proto Proto
	fresh bool // the link was watched from its first byte; else it is not parsed
	dir   dir
	conn  uint64
	epoch uint64

	pg   pgParser
	amqp amqpParser
	nats natsParser

	hook     Hook      // during feed: the hook to ask
	out      []byte    // what this chunk forwards
	ev       *Event    // the event being assembled
	segs     []segment // its bytes and what came between them
	deferred [][]byte  // AMQPDeliver events kept back

	opaque  bool // parse nothing more: pass everything
	passing bool // the hook is gone: pass everything
	stalled bool // forward nothing more
	reset   bool // close the connection
}

// feed takes a chunk of the stream and returns what to forward now. h is the hook, nil when it
// has been stopped.
func (f *flow) feed(data []byte, h Hook) []byte {
	f.out = nil
	switch {
	case f.stalled || f.reset:
		return nil
	case f.passing:
		return data
	case h == nil:
		f.release()
		f.passing = true
		return append(f.out, data...)
	case f.frozen(h):
		return nil
	case f.opaque:
		return data
	}
	f.hook = h
	defer func() { f.hook = nil }()
	if !f.fresh {
		f.opaque = true // the middle of a stream cannot be framed with certainty
		return data
	}
	if f.dir == dirUnknown && len(data) > 0 {
		f.dir = firstByteDir(f.proto, data[0])
	}
	switch {
	case f.proto == Postgres && f.dir == dirDown:
		f.pg.feed(f, data)
	case f.proto == AMQP:
		f.amqp.feed(f, data)
	case f.proto == NATS:
		f.nats.feed(f, data)
	default:
		f.opaque = true
		return data
	}
	return f.out
}

// finish is the end of the stream: what was held back and still belongs to the stream goes
// out (an event that never completed, a partial frame); deferred events are dropped. h is as
// for feed.
func (f *flow) finish(h Hook) []byte {
	f.out = nil
	if f.stalled || f.reset || f.passing || f.frozen(h) {
		return nil
	}
	f.deferred = nil
	f.release()
	return f.out
}

// firstByteDir tells a stream's direction from its first byte: a PostgreSQL client opens with
// the length of its startup packet (a zero first byte), the server with a response byte or a
// typed message; an AMQP client opens with "AMQP", the server with a method frame.
func firstByteDir(p Proto, b byte) dir {
	switch p {
	case Postgres:
		if b == 0 {
			return dirUp
		}
		return dirDown
	case AMQP:
		if b == 'A' {
			return dirUp
		}
		return dirDown
	case NATS:
		if b == 'I' || b == 'i' { // the server opens with INFO, the client with CONNECT
			return dirDown
		}
		return dirUp
	}
	return dirUp
}

// frozen asks the hook whether the connection's epoch is frozen, and stalls if so.
func (f *flow) frozen(h Hook) bool {
	if h == nil || !h.Frozen(f.epoch) {
		return false
	}
	f.stall()
	return true
}

// parsing reports whether the parsers still have work: nothing has stalled, reset or gone opaque.
func (f *flow) parsing() bool { return !f.stalled && !f.reset && !f.opaque }

// pass forwards b, or holds it as another channel's bytes while an event is open.
func (f *flow) pass(b []byte) {
	if len(b) == 0 {
		return
	}
	if f.ev != nil {
		f.segs = append(f.segs, segment{b: append([]byte(nil), b...)})
		return
	}
	f.out = append(f.out, b...)
}

// part holds b as part of the open event.
func (f *flow) part(b []byte) {
	if len(b) == 0 {
		return
	}
	f.segs = append(f.segs, segment{b: append([]byte(nil), b...), ofEvent: true})
}

// begin opens an event; its bytes are held until end.
func (f *flow) begin(e Event) {
	e.Upstream = f.dir == dirUp
	e.Conn, e.Epoch = f.conn, f.epoch
	f.ev = &e
	f.segs = f.segs[:0]
}

// end closes the open event: the hook decides, and its bytes go accordingly.
func (f *flow) end() {
	e, segs := *f.ev, f.segs
	f.ev, f.segs = nil, nil
	act := Pass
	if f.hook != nil {
		act = f.hook.Decide(e)
	}
	if act == Defer && e.Kind != AMQPDeliver {
		act = Pass
	}
	switch act {
	case Hold:
		f.forward(segs, true)
		f.stall()
	case Withhold:
		f.stall()
	case Drop:
		f.forward(segs, false)
	case DropReset:
		f.forward(segs, false)
		f.reset = true
		f.deferred = nil
	case Defer:
		var kept []byte
		for _, s := range segs {
			if s.ofEvent {
				kept = append(kept, s.b...)
			}
		}
		f.deferred = append(f.deferred, kept)
		f.forward(segs, false)
	default:
		f.forward(segs, true)
		if e.Kind == AMQPDeliver {
			for _, d := range f.deferred {
				f.out = append(f.out, d...)
			}
			f.deferred = nil
		}
	}
}

// releaseDeferred forwards the deferred deliveries now (no next delivery came in time). What
// has been forwarded so far ends at a frame boundary, so they go out whole.
func (f *flow) releaseDeferred() []byte {
	if f.stalled || f.reset || len(f.deferred) == 0 {
		return nil
	}
	var out []byte
	for _, d := range f.deferred {
		out = append(out, d...)
	}
	f.deferred = nil
	return out
}

// abandon gives up the open event without asking the hook (its frames did not follow the
// protocol): its bytes go on as they are.
func (f *flow) abandon() {
	segs := f.segs
	f.ev, f.segs = nil, nil
	f.forward(segs, true)
}

func (f *flow) forward(segs []segment, event bool) {
	for _, s := range segs {
		if event || !s.ofEvent {
			f.out = append(f.out, s.b...)
		}
	}
}

// stall forwards nothing more in this direction.
func (f *flow) stall() {
	f.stalled = true
	f.ev, f.segs, f.deferred = nil, nil, nil
	f.pg = pgParser{}
	f.amqp = amqpParser{}
	f.nats = natsParser{}
}

// release forwards everything held, in an order the protocol accepts: deferred deliveries
// (whole frame sequences), the open event's frames, then a partial message or frame.
func (f *flow) release() {
	for _, d := range f.deferred {
		f.out = append(f.out, d...)
	}
	f.deferred = nil
	if f.ev != nil {
		f.abandon()
	}
	f.out = append(f.out, f.pg.partial()...)
	f.out = append(f.out, f.amqp.partial()...)
	f.out = append(f.out, f.nats.partial()...)
	f.pg = pgParser{}
	f.amqp = amqpParser{}
	f.nats = natsParser{}
}

// goOpaque stops parsing: what is held goes out (the parsers' buffers included), then rest
// (the chunk's bytes not yet taken), then everything that follows.
func (f *flow) goOpaque(rest []byte) {
	f.release()
	f.out = append(f.out, rest...)
	f.opaque = true
}

// drain returns everything held and passes all that follows: the toxic is leaving the link.
func (f *flow) drain(h Hook) []byte {
	f.out = nil
	if f.stalled || f.reset || f.passing || f.frozen(h) {
		return nil
	}
	f.release()
	f.passing = true
	return f.out
}
