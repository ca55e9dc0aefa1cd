package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// scriptHook decides by the event's kind and its number among the events of that kind (from 1).
type scriptHook struct {
	rule   func(e Event, n int) Action
	counts map[Kind]int
	seen   []Event
	frozen bool
}

func (h *scriptHook) Decide(e Event) Action {
	if h.counts == nil {
		h.counts = map[Kind]int{}
	}
	h.counts[e.Kind]++
	h.seen = append(h.seen, e)
	if h.rule == nil {
		return Pass
	}
	return h.rule(e, h.counts[e.Kind])
}

func (h *scriptHook) Epoch() uint64        { return 7 }
func (h *scriptHook) Frozen(e uint64) bool { return h.frozen }

// on returns a rule that takes act on the n-th event of kind k and passes the rest.
func on(k Kind, n int, act Action) func(Event, int) Action {
	return func(e Event, i int) Action {
		if e.Kind == k && i == n {
			return act
		}
		return Pass
	}
}

// chunkings splits a stream every way the tests use: whole, in two at every offset, and byte by
// byte.
func chunkings(in []byte) map[string][][]byte {
	out := map[string][][]byte{"whole": {in}}
	for i := 1; i < len(in); i++ {
		out[fmt.Sprintf("split@%d", i)] = [][]byte{in[:i], in[i:]}
	}
	var bytewise [][]byte
	for i := range in {
		bytewise = append(bytewise, in[i:i+1])
	}
	out["bytewise"] = bytewise
	return out
}

// runFlow feeds chunks through a fresh flow and returns what it forwarded (its end of stream
// included, unless the flow reset) and the events seen.
func runFlow(proto Proto, chunks [][]byte, h *scriptHook) (out []byte, events []Event, reset bool) {
	f := &flow{proto: proto, fresh: true, conn: 3, epoch: 7}
	for _, c := range chunks {
		out = append(out, f.feed(bytes.Clone(c), h)...)
	}
	if !f.reset {
		out = append(out, f.finish(h)...)
	}
	return out, h.seen, f.reset
}

type flowCase struct {
	name   string
	proto  Proto
	in     []byte
	rule   func(Event, int) Action
	want   []byte
	events []Event // Conn 3 and Epoch 7 are filled in
	reset  bool
}

func checkFlowCases(t *testing.T, cases []flowCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := withConn(tc.events)
			for name, chunks := range chunkings(tc.in) {
				h := &scriptHook{rule: tc.rule}
				out, events, reset := runFlow(tc.proto, chunks, h)
				if !bytes.Equal(out, tc.want) {
					t.Fatalf("%s: forwarded\n%q\nwant\n%q", name, out, tc.want)
				}
				if !reflect.DeepEqual(events, want) {
					t.Fatalf("%s: events\n%+v\nwant\n%+v", name, events, want)
				}
				if reset != tc.reset {
					t.Fatalf("%s: reset %v, want %v", name, reset, tc.reset)
				}
			}
		})
	}
}

func withConn(es []Event) []Event {
	var out []Event
	for _, e := range es {
		e.Conn, e.Epoch = 3, 7
		out = append(out, e)
	}
	return out
}

func TestPostgresFlow(t *testing.T) {
	start := cat([]byte("N"), pgStartup())
	begin := cat(pgComplete("BEGIN"), pgReady('T'))
	insert := cat(pgComplete("INSERT 0 1"), pgReady('T'))
	commit := cat(pgComplete("COMMIT"), pgReady('I'))
	rows := cat(pgMsg('T', []byte("row description")), pgMsg('D', bytes.Repeat([]byte("x"), 300)), pgComplete("SELECT 1"), pgReady('I'))
	in := cat(start, begin, insert, commit, rows)

	ready := Event{Kind: PGReady}
	commitEv := Event{Kind: PGCommit, Tag: "COMMIT"}
	seen := []Event{ready, ready, ready, commitEv, ready}
	upToCommit := cat(start, begin, insert)
	cases := []flowCase{
		{name: "pass", proto: Postgres, in: in, want: in, events: seen},
		{name: "hold commit", proto: Postgres, in: in, rule: on(PGCommit, 1, Hold), want: cat(upToCommit, commit), events: seen[:4]},
		{name: "withhold commit", proto: Postgres, in: in, rule: on(PGCommit, 1, Withhold), want: upToCommit, events: seen[:4]},
		{name: "drop commit", proto: Postgres, in: in, rule: on(PGCommit, 1, Drop), want: cat(upToCommit, rows), events: seen},
		{name: "drop-reset commit", proto: Postgres, in: in, rule: on(PGCommit, 1, DropReset), want: upToCommit, events: seen[:4], reset: true},
		{name: "defer is pass outside deliveries", proto: Postgres, in: in, rule: on(PGCommit, 1, Defer), want: in, events: seen},
		{name: "withhold a ready", proto: Postgres, in: in, rule: on(PGReady, 2, Withhold), want: cat(start, pgComplete("BEGIN")), events: seen[:2]},
		{name: "drop a ready", proto: Postgres, in: in, rule: on(PGReady, 3, Drop), want: cat(start, begin, pgComplete("INSERT 0 1"), commit, rows), events: seen},
	}

	// A COMMIT of an aborted transaction answers ROLLBACK: not a commit.
	rollback := cat(start, pgMsg('E', []byte("Serror\x00")), pgReady('E'), pgComplete("ROLLBACK"), pgReady('I'))
	cases = append(cases, flowCase{name: "rollback is no commit", proto: Postgres, in: rollback, rule: on(PGCommit, 1, Drop), want: rollback, events: []Event{ready, ready, ready}})

	// Whatever comes between the COMMIT tag and its ReadyForQuery belongs to the event.
	notify := cat(start, pgComplete("COMMIT"), pgMsg('A', []byte("notification")), pgReady('I'), rows)
	cases = append(cases,
		flowCase{name: "commit spans a notification", proto: Postgres, in: notify, rule: on(PGCommit, 1, Drop), want: cat(start, rows), events: []Event{ready, commitEv, ready}},
		flowCase{name: "pipelined commit then select", proto: Postgres, in: cat(start, pgComplete("COMMIT"), rows), rule: on(PGCommit, 1, Withhold), want: start, events: []Event{ready, commitEv}},
	)

	// Extended protocol: ParseComplete, BindComplete, then the same CommandComplete.
	ext := cat(start, pgMsg('1', nil), pgMsg('2', nil), pgComplete("COMMIT"), pgReady('I'))
	cases = append(cases, flowCase{name: "extended protocol commit", proto: Postgres, in: ext, rule: on(PGCommit, 1, Withhold), want: cat(start, pgMsg('1', nil), pgMsg('2', nil)), events: []Event{ready, commitEv}})

	// Encryption accepted: the rest is opaque. Two refusals (GSS, then SSL) are skipped.
	tls := cat([]byte("S"), []byte{0x16, 3, 1, 0, 5}, commit)
	cases = append(cases,
		flowCase{name: "tls is opaque", proto: Postgres, in: tls, rule: on(PGCommit, 1, Withhold), want: tls},
		flowCase{name: "gss refused then tls", proto: Postgres, in: cat([]byte("N"), tls), rule: on(PGCommit, 1, Withhold), want: cat([]byte("N"), tls)},
		flowCase{name: "two refusals", proto: Postgres, in: cat([]byte("N"), start, commit), rule: on(PGCommit, 1, Drop), want: cat([]byte("NN"), pgStartup()), events: []Event{ready, commitEv}},
		flowCase{name: "no negotiation", proto: Postgres, in: cat(pgStartup(), commit), rule: on(PGCommit, 1, Drop), want: pgStartup(), events: []Event{ready, commitEv}},
	)

	// Garbage: an unknown type or a bad length makes the link opaque, never a crash.
	bad := cat(start, []byte{'C', 0, 0, 0, 2}, commit)
	unknown := cat(start, pgMsg('?', []byte("x")), commit)
	cases = append(cases,
		flowCase{name: "bad length is opaque", proto: Postgres, in: bad, rule: on(PGCommit, 1, Drop), want: bad, events: []Event{ready}},
		flowCase{name: "unknown type is opaque", proto: Postgres, in: unknown, rule: on(PGCommit, 1, Drop), want: unknown, events: []Event{ready}},
		flowCase{name: "truncated stream", proto: Postgres, in: cat(start, commit[:8]), rule: on(PGCommit, 1, Drop), want: cat(start, commit[:8]), events: []Event{ready}},
	)

	// The client's side is not parsed: it opens with the length of its startup packet.
	client := cat([]byte{0, 0, 0, 8, 4, 210, 22, 47}, pgMsg('Q', []byte("COMMIT\x00")))
	cases = append(cases,
		flowCase{name: "upstream passes", proto: Postgres, in: client, rule: on(PGCommit, 1, Withhold), want: client},
		flowCase{name: "raw passes", proto: Raw, in: in, rule: on(PGCommit, 1, Withhold), want: in},
	)
	checkFlowCases(t, cases)
}

func TestAMQPFlow(t *testing.T) {
	open := cat(amqpOther(0, 10, 11), amqpOther(0, 10, 31), amqpOther(0, 10, 40), amqpOther(1, 20, 10), amqpOther(1, 85, 10))
	pub1 := cat(amqpPublish(1), amqpContent(1, 5, "m1"), amqpBody(1, "hello"))
	pub2 := cat(amqpPublish(1), amqpContent(1, 8, "m2"), amqpBody(1, "two "), amqpBody(1, "part"))
	pub3 := cat(amqpPublish(1), amqpContent(1, 0, ""))
	up := cat(amqpHeader, open, pub1, amqpHeartbeat(), pub2, pub3, amqpAck(2, 5, false), amqpAck(2, 9, true), amqpNack(2, 10, true), amqpReject(2, 11), amqpOther(0, 10, 50))

	p1 := Event{Kind: AMQPPublish, Upstream: true, Channel: 1, MessageID: "m1"}
	p2 := Event{Kind: AMQPPublish, Upstream: true, Channel: 1, MessageID: "m2"}
	p3 := Event{Kind: AMQPPublish, Upstream: true, Channel: 1}
	a1 := Event{Kind: AMQPAck, Upstream: true, Channel: 2, DeliveryTag: 5}
	a2 := Event{Kind: AMQPAck, Upstream: true, Channel: 2, DeliveryTag: 9, Multiple: true}
	n1 := Event{Kind: AMQPNack, Upstream: true, Channel: 2, DeliveryTag: 10, Multiple: true}
	n2 := Event{Kind: AMQPNack, Upstream: true, Channel: 2, DeliveryTag: 11}
	upSeen := []Event{p1, p2, p3, a1, a2, n1, n2}

	start := amqpOther(0, 10, 10)
	conf1, conf2 := amqpAck(1, 1, false), amqpAck(1, 2, false)
	del1 := cat(amqpDeliver(2, 1, false), amqpContent(2, 3, "d1"), amqpBody(2, "one"))
	del2 := cat(amqpDeliver(2, 2, false), amqpContent(2, 3, "d2"), amqpBody(2, "two"))
	del3 := cat(amqpDeliver(2, 3, true), amqpContent(2, 5, "d3"), amqpBody(2, "th"), amqpBody(2, "ree"))
	down := cat(start, conf1, conf2, del1, amqpHeartbeat(), del2, del3, amqpOther(0, 10, 51))
	c1 := Event{Kind: AMQPConfirm, Channel: 1, DeliveryTag: 1}
	c2 := Event{Kind: AMQPConfirm, Channel: 1, DeliveryTag: 2}
	d1 := Event{Kind: AMQPDeliver, Channel: 2, DeliveryTag: 1, MessageID: "d1"}
	d2 := Event{Kind: AMQPDeliver, Channel: 2, DeliveryTag: 2, MessageID: "d2"}
	d3 := Event{Kind: AMQPDeliver, Channel: 2, DeliveryTag: 3, Redelivered: true, MessageID: "d3"}
	downSeen := []Event{c1, c2, d1, d2, d3}

	// Frames of other channels between a delivery's frames keep their place.
	other := amqpOther(3, 60, 11)
	interleaved := cat(start, amqpDeliver(2, 1, false), amqpHeartbeat(), amqpContent(2, 3, "d1"), other, amqpBody(2, "one"), del2)

	cases := []flowCase{
		{name: "up pass", proto: AMQP, in: up, want: up, events: upSeen},
		{name: "hold publish", proto: AMQP, in: up, rule: on(AMQPPublish, 2, Hold), want: cat(amqpHeader, open, pub1, amqpHeartbeat(), pub2), events: upSeen[:2]},
		{name: "withhold publish", proto: AMQP, in: up, rule: on(AMQPPublish, 2, Withhold), want: cat(amqpHeader, open, pub1, amqpHeartbeat()), events: upSeen[:2]},
		{name: "drop publish", proto: AMQP, in: up, rule: on(AMQPPublish, 2, Drop), want: cat(amqpHeader, open, pub1, amqpHeartbeat(), pub3, amqpAck(2, 5, false), amqpAck(2, 9, true), amqpNack(2, 10, true), amqpReject(2, 11), amqpOther(0, 10, 50)), events: upSeen},
		{name: "drop empty publish", proto: AMQP, in: up, rule: on(AMQPPublish, 3, Drop), want: cat(amqpHeader, open, pub1, amqpHeartbeat(), pub2, amqpAck(2, 5, false), amqpAck(2, 9, true), amqpNack(2, 10, true), amqpReject(2, 11), amqpOther(0, 10, 50)), events: upSeen},
		{name: "drop-reset ack", proto: AMQP, in: up, rule: on(AMQPAck, 1, DropReset), want: cat(amqpHeader, open, pub1, amqpHeartbeat(), pub2, pub3), events: upSeen[:4], reset: true},
		{name: "drop nack", proto: AMQP, in: up, rule: on(AMQPNack, 2, Drop), want: cat(amqpHeader, open, pub1, amqpHeartbeat(), pub2, pub3, amqpAck(2, 5, false), amqpAck(2, 9, true), amqpNack(2, 10, true), amqpOther(0, 10, 50)), events: upSeen},
		{name: "down pass", proto: AMQP, in: down, want: down, events: downSeen},
		{name: "drop confirm", proto: AMQP, in: down, rule: on(AMQPConfirm, 2, Drop), want: cat(start, conf1, del1, amqpHeartbeat(), del2, del3, amqpOther(0, 10, 51)), events: downSeen},
		{name: "withhold confirm", proto: AMQP, in: down, rule: on(AMQPConfirm, 1, Withhold), want: start, events: downSeen[:1]},
		{name: "defer delivery", proto: AMQP, in: down, rule: on(AMQPDeliver, 1, Defer), want: cat(start, conf1, conf2, amqpHeartbeat(), del2, del1, del3, amqpOther(0, 10, 51)), events: downSeen},
		{name: "defer two deliveries", proto: AMQP, in: down, rule: func(e Event, n int) Action {
			if e.Kind == AMQPDeliver && n < 3 {
				return Defer
			}
			return Pass
		}, want: cat(start, conf1, conf2, amqpHeartbeat(), del3, del1, del2, amqpOther(0, 10, 51)), events: downSeen},
		{name: "deferred last delivery is dropped at the end", proto: AMQP, in: down, rule: on(AMQPDeliver, 3, Defer), want: cat(start, conf1, conf2, del1, amqpHeartbeat(), del2, amqpOther(0, 10, 51)), events: downSeen},
		{name: "dropped delivery does not release a deferred one", proto: AMQP, in: down, rule: func(e Event, n int) Action {
			switch {
			case e.Kind == AMQPDeliver && n == 1:
				return Defer
			case e.Kind == AMQPDeliver && n == 2:
				return Drop
			}
			return Pass
		}, want: cat(start, conf1, conf2, amqpHeartbeat(), del3, del1, amqpOther(0, 10, 51)), events: downSeen},
		{name: "hold delivery", proto: AMQP, in: down, rule: on(AMQPDeliver, 2, Hold), want: cat(start, conf1, conf2, del1, amqpHeartbeat(), del2), events: downSeen[:4]},
		{name: "drop-reset delivery", proto: AMQP, in: down, rule: on(AMQPDeliver, 1, DropReset), want: cat(start, conf1, conf2), events: downSeen[:3], reset: true},
		{name: "interleaved drop", proto: AMQP, in: interleaved, rule: on(AMQPDeliver, 1, Drop), want: cat(start, amqpHeartbeat(), other, del2), events: []Event{d1, d2}},
		{name: "interleaved hold", proto: AMQP, in: interleaved, rule: on(AMQPDeliver, 1, Hold), want: interleaved[:len(interleaved)-len(del2)], events: []Event{d1}},
	}

	// Garbage makes the link opaque: a wrong protocol header, a bad frame end, an absurd size,
	// an unknown frame type.
	badEnd := cat(amqpHeader, pub1[:len(pub1)-1], []byte{0}, pub2)
	huge := cat(start, []byte{1, 0, 1, 0x7f, 0xff, 0xff, 0xff}, del1)
	unknownType := cat(start, frame(9, 0, nil), del1)
	truncated := cat(start, del1[:len(del1)-3])
	// A channel closed by either side is an event: the broker requeues its unacknowledged
	// deliveries.
	closeUp := cat(amqpHeader, open, amqpAck(2, 5, false), amqpOther(2, 20, 40), amqpOther(2, 20, 41))
	closeDown := cat(start, del1, amqpOther(2, 20, 40))
	cases = append(cases,
		flowCase{name: "client closes a channel", proto: AMQP, in: closeUp, want: closeUp, events: []Event{a1, {Kind: AMQPChannelClose, Upstream: true, Channel: 2}}},
		flowCase{name: "broker closes a channel", proto: AMQP, in: closeDown, want: closeDown, events: []Event{d1, {Kind: AMQPChannelClose, Channel: 2}}},
	)
	cases = append(cases,
		flowCase{name: "amqp 1.0 header is opaque", proto: AMQP, in: cat([]byte("AMQP\x00\x01\x00\x00"), pub1), rule: on(AMQPPublish, 1, Drop), want: cat([]byte("AMQP\x00\x01\x00\x00"), pub1)},
		flowCase{name: "bad frame end is opaque", proto: AMQP, in: badEnd, rule: on(AMQPPublish, 1, Drop), want: badEnd},
		flowCase{name: "absurd size is opaque", proto: AMQP, in: huge, rule: on(AMQPDeliver, 1, Drop), want: huge},
		flowCase{name: "unknown frame type is opaque", proto: AMQP, in: unknownType, rule: on(AMQPDeliver, 1, Drop), want: unknownType},
		flowCase{name: "truncated delivery goes out at the end", proto: AMQP, in: truncated, rule: on(AMQPDeliver, 1, Drop), want: truncated},
		flowCase{name: "content without its header is given up", proto: AMQP, in: cat(start, amqpDeliver(2, 1, false), amqpAck(2, 1, false), del2), rule: func(Event, int) Action { return Drop }, want: cat(start, amqpDeliver(2, 1, false)), events: []Event{{Kind: AMQPConfirm, Channel: 2, DeliveryTag: 1}, d2}},
	)
	checkFlowCases(t, cases)
}

func TestFrozenAndStopped(t *testing.T) {
	in := cat([]byte("N"), pgStartup(), pgComplete("COMMIT"), pgReady('I'))
	for name, chunks := range chunkings(in) {
		h := &scriptHook{frozen: true}
		if out, events, _ := runFlow(Postgres, chunks, h); len(out) != 0 || len(events) != 0 {
			t.Fatalf("%s: a frozen link forwarded %q and saw %v", name, out, events)
		}
	}
	// Frozen part way: what came before goes out, nothing after, even once thawed.
	for i := 1; i < len(in); i++ {
		h := &scriptHook{}
		f := &flow{proto: Postgres, fresh: true}
		out := f.feed(bytes.Clone(in[:i]), h)
		h.frozen = true
		out = append(out, f.feed(bytes.Clone(in[i:]), h)...)
		h.frozen = false
		out = append(out, f.feed([]byte("more"), h)...)
		out = append(out, f.finish(h)...)
		if !bytes.HasPrefix(in, out) || len(out) > i {
			t.Fatalf("split %d: frozen link forwarded %q", i, out)
		}
	}
	// Frozen with a commit reply held: the end of the stream forwards nothing of it.
	h := &scriptHook{}
	f := &flow{proto: Postgres, fresh: true}
	out := f.feed(cat([]byte("N"), pgStartup(), pgComplete("COMMIT")), h)
	h.frozen = true
	if rest := f.finish(h); !bytes.Equal(out, cat([]byte("N"), pgStartup())) || len(rest) != 0 {
		t.Fatalf("forwarded %q, then at the end %q", out, rest)
	}
	// A stopped hook: what was held goes out and everything after passes, unparsed.
	for i := 1; i < len(in); i++ {
		h := &scriptHook{rule: on(PGCommit, 1, Withhold)}
		f := &flow{proto: Postgres, fresh: true}
		out := f.feed(bytes.Clone(in[:i]), h)
		out = append(out, f.feed(bytes.Clone(in[i:]), nil)...)
		out = append(out, f.finish(h)...)
		if !bytes.Equal(out, in) { // the commit completes only with the last byte
			t.Fatalf("split %d: stopped hook forwarded %q, want %q", i, out, in)
		}
	}
}

// A link watched from the middle of its stream is not parsed.
func TestMidStream(t *testing.T) {
	in := cat(pgComplete("COMMIT"), pgReady('I'), pgReady('I'))
	h := &scriptHook{rule: on(PGCommit, 1, Drop)}
	f := &flow{proto: Postgres, dir: dirDown}
	if out := f.feed(in, h); !bytes.Equal(out, in) || len(h.seen) != 0 {
		t.Fatalf("forwarded %q, saw %v", out, h.seen)
	}
	h.frozen = true
	if out := f.feed(in, h); len(out) != 0 {
		t.Fatalf("a frozen link forwarded %q", out)
	}
}
