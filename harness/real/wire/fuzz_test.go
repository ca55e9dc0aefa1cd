package wire

import (
	"bytes"
	"testing"
)

// actionHook answers from a script of actions, in turn.
type actionHook struct {
	acts []byte
	n    int
}

func (h *actionHook) Decide(Event) Action {
	if len(h.acts) == 0 {
		return Pass
	}
	a := Action(h.acts[h.n%len(h.acts)] % 6)
	h.n++
	return a
}
func (h *actionHook) Epoch() uint64      { return 0 }
func (h *actionHook) Frozen(uint64) bool { return false }

// FuzzFlow feeds any bytes, cut anywhere, through every parser in both directions: nothing
// panics, a hook that passes everything forwards the stream unchanged, and no action makes
// bytes up.
func FuzzFlow(f *testing.F) {
	up := cat(amqpHeader, amqpPublish(1), amqpContent(1, 5, "m1"), amqpBody(1, "hello"), amqpAck(2, 1, true), amqpReject(2, 2))
	down := cat(amqpOther(0, 10, 10), amqpAck(1, 1, false), amqpDeliver(2, 1, true), amqpContent(2, 3, "d1"), amqpBody(2, "one"), amqpHeartbeat())
	pg := cat([]byte("N"), pgStartup(), pgComplete("COMMIT"), pgReady('I'), pgMsg('D', []byte("row")), pgReady('T'))
	for _, seed := range [][]byte{up, down, pg, natsUp, natsDown, []byte("S\x16\x03"), {0, 0, 0, 8, 4, 210, 22, 47}, amqpContent(1, 9, "")} {
		f.Add(seed, uint16(3), uint16(11), []byte{0, 2, 3, 5})
	}
	f.Fuzz(func(t *testing.T, in []byte, cut1, cut2 uint16, acts []byte) {
		chunks := cut(in, int(cut1), int(cut2))
		for _, proto := range []Proto{Postgres, AMQP, NATS, Raw} {
			for _, d := range []dir{dirUnknown, dirUp, dirDown} { // unknown: from the first byte
				out := feedAll(&flow{proto: proto, fresh: true, dir: d}, chunks, &actionHook{})
				if !bytes.Equal(out, in) {
					t.Fatalf("%s dir %d: passing everything forwarded %q, want %q", proto, d, out, in)
				}
				out = feedAll(&flow{proto: proto, fresh: true, dir: d}, chunks, &actionHook{acts: acts})
				if len(out) > len(in) {
					t.Fatalf("%s dir %d: forwarded %d bytes of %d", proto, d, len(out), len(in))
				}
			}
		}
	})
}

func cut(in []byte, a, b int) [][]byte {
	if len(in) == 0 {
		return nil
	}
	a, b = a%len(in), b%len(in)
	if a > b {
		a, b = b, a
	}
	return [][]byte{in[:a], in[a:b], in[b:]}
}

func feedAll(f *flow, chunks [][]byte, h Hook) []byte {
	var out []byte
	for _, c := range chunks {
		out = append(out, f.feed(bytes.Clone(c), h)...)
	}
	if !f.reset {
		out = append(out, f.finish(h)...)
	}
	return out
}
