package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// recordHook records every event and answers with a rule; it is safe for the proxy's
// goroutines.
type recordHook struct {
	mu     sync.Mutex
	rule   func(e Event, n int) Action
	counts map[Kind]int
	events []Event
	epoch  uint64
	frozen map[uint64]bool
	seen   chan Event
}

func newRecordHook(rule func(Event, int) Action) *recordHook {
	return &recordHook{rule: rule, counts: map[Kind]int{}, frozen: map[uint64]bool{}, seen: make(chan Event, 1000)}
}

func (h *recordHook) Decide(e Event) Action {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.counts[e.Kind]++
	h.events = append(h.events, e)
	select {
	case h.seen <- e:
	default:
	}
	if h.rule == nil {
		return Pass
	}
	return h.rule(e, h.counts[e.Kind])
}

func (h *recordHook) Epoch() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epoch
}

func (h *recordHook) Frozen(e uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.frozen[e]
}

func (h *recordHook) setEpoch(e uint64) {
	h.mu.Lock()
	h.epoch = e
	h.mu.Unlock()
}

func (h *recordHook) freeze(e uint64) {
	h.mu.Lock()
	h.frozen[e] = true
	h.mu.Unlock()
}

// of returns the events of kind k seen so far.
func (h *recordHook) of(k Kind) []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Event
	for _, e := range h.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// waitFor waits until n events of kind k have been seen, or fails the test after d.
func (h *recordHook) waitFor(t *testing.T, k Kind, n int, d time.Duration) []Event {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if es := h.of(k); len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("saw %d %s events in %v, want %d", len(h.of(k)), k, d, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newToxiproxy starts an in-process Toxiproxy server whose proxies end with the test.
func newToxiproxy(t *testing.T) *toxiproxy.ApiServer {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	t.Cleanup(func() { _ = srv.Collection.Clear() })
	return srv
}

// newProxy starts a proxy to upstream.
func newProxy(t *testing.T, srv *toxiproxy.ApiServer, name, upstream string) *toxiproxy.Proxy {
	t.Helper()
	p := toxiproxy.NewProxy(srv, name, "127.0.0.1:0", upstream)
	if err := srv.Collection.Add(p, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// addToxic adds a toxic to one stream of p.
func addToxic(t *testing.T, p *toxiproxy.Proxy, name, typ, stream string, attrs map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"name": name, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		t.Fatalf("add toxic %s: %v", name, err)
	}
}

// addWire adds the harness-wire toxic on both streams of p.
func addWire(t *testing.T, p *toxiproxy.Proxy, id string, proto Proto) {
	t.Helper()
	addToxic(t, p, "wire-up", ToxicType, "upstream", Attributes(id, proto))
	addToxic(t, p, "wire-down", ToxicType, "downstream", Attributes(id, proto))
}

// fakeServer accepts connections; for each it reads everything into a record and runs reply.
type fakeServer struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []*fakeConn
	reply func(c *fakeConn)
}

type fakeConn struct {
	net.Conn
	mu   sync.Mutex
	got  []byte
	eof  chan struct{}
	more chan struct{}
}

func newFakeServer(t *testing.T, reply func(c *fakeConn)) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, reply: reply}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			c := &fakeConn{Conn: nc, eof: make(chan struct{}), more: make(chan struct{}, 1)}
			t.Cleanup(func() { _ = nc.Close() })
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			go func() {
				defer close(c.eof)
				buf := make([]byte, 4096)
				for {
					n, err := nc.Read(buf)
					c.mu.Lock()
					c.got = append(c.got, buf[:n]...)
					c.mu.Unlock()
					select {
					case c.more <- struct{}{}:
					default:
					}
					if err != nil {
						return
					}
				}
			}()
			if s.reply != nil {
				go s.reply(c)
			}
		}
	}()
	return s
}

func (c *fakeConn) received() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.got)
}

// waitReceived waits until the server has received want (as a prefix), or fails after d.
func (c *fakeConn) waitReceived(t *testing.T, want []byte, d time.Duration) {
	t.Helper()
	deadline := time.After(d)
	for !bytes.Equal(c.received(), want) {
		select {
		case <-c.more:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			t.Fatalf("server received\n%q\nwant\n%q", c.received(), want)
		}
	}
}

func (s *fakeServer) conn(t *testing.T, i int) *fakeConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		if i < len(s.conns) {
			c := s.conns[i]
			s.mu.Unlock()
			return c
		}
		s.mu.Unlock()
		if time.Now().After(deadline) {
			t.Fatalf("no connection %d at the server", i)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, b []byte) {
	t.Helper()
	_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
}

// readN reads exactly n bytes within d.
func readN(t *testing.T, c net.Conn, n int, d time.Duration) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	b := make([]byte, n)
	if _, err := io.ReadFull(c, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return b
}

// Both directions of a connection share their number and epoch, also with two proxies on one
// hook opening connections at once; numbers follow the order of opening.
func TestToxicPairsDirections(t *testing.T) {
	confirm := amqpAck(1, 1, false)
	reply := func(c *fakeConn) {
		for len(c.received()) < len(amqpHeader) {
			select {
			case <-c.more:
			case <-c.eof:
				return
			}
		}
		_, _ = c.Write(confirm)
	}
	srv := newToxiproxy(t)
	h := newRecordHook(nil)
	id, stop := Watch(h)
	defer stop()
	var proxies []*toxiproxy.Proxy
	for _, name := range []string{"amqp-a", "amqp-b"} {
		p := newProxy(t, srv, name, newFakeServer(t, reply).ln.Addr().String())
		addWire(t, p, id, AMQP)
		proxies = append(proxies, p)
	}
	const perProxy = 8
	var wg sync.WaitGroup
	for i := range 2 * perProxy {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h.setEpoch(uint64(i % 3)) // epochs move while connections open
			c := dial(t, proxies[i%2].Listen)
			write(t, c, cat(amqpHeader, amqpAck(1, uint64(i+1), false)))
			readN(t, c, len(confirm), 5*time.Second)
		}()
	}
	wg.Wait()
	acks := h.waitFor(t, AMQPAck, 2*perProxy, 5*time.Second)
	confirms := h.waitFor(t, AMQPConfirm, 2*perProxy, 5*time.Second)
	byConn := map[uint64]Event{}
	for _, a := range acks {
		if _, dup := byConn[a.Conn]; dup || a.Conn == 0 || a.Conn > 2*perProxy {
			t.Fatalf("ack on connection %d: numbers not unique or out of range: %+v", a.Conn, acks)
		}
		byConn[a.Conn] = a
	}
	for _, c := range confirms {
		a, ok := byConn[c.Conn]
		if !ok || a.Epoch != c.Epoch || !a.Upstream || c.Upstream {
			t.Fatalf("confirm %+v does not pair with an ack (%+v)", c, a)
		}
	}
}

// A chunk boundary inside a frame survives a re-pipe (a toxic added and removed behind the
// wire toxic), and removing the wire toxic itself forwards what it held.
func TestToxicKeepsStateAcrossInterrupts(t *testing.T) {
	srv := newToxiproxy(t)
	h := newRecordHook(on(AMQPPublish, 2, Drop))
	id, stop := Watch(h)
	defer stop()
	fake := newFakeServer(t, nil)
	p := newProxy(t, srv, "amqp", fake.ln.Addr().String())
	addWire(t, p, id, AMQP)

	c := dial(t, p.Listen)
	pub1 := cat(amqpPublish(1), amqpContent(1, 5, "m1"), amqpBody(1, "hello"))
	pub2 := cat(amqpPublish(1), amqpContent(1, 3, "m2"), amqpBody(1, "two"))
	pub3 := cat(amqpPublish(1), amqpContent(1, 5, "m3"), amqpBody(1, "three"))
	write(t, c, cat(amqpHeader, pub1[:20]))
	server := fake.conn(t, 0)
	server.waitReceived(t, amqpHeader, 5*time.Second)

	addToxic(t, p, "latency", "latency", "upstream", map[string]any{"latency": 1})
	if err := p.Toxics.RemoveToxic(t.Context(), "latency"); err != nil {
		t.Fatal(err)
	}
	write(t, c, cat(pub1[20:], pub2, pub3[:9]))
	server.waitReceived(t, cat(amqpHeader, pub1), 5*time.Second)
	if es := h.waitFor(t, AMQPPublish, 2, 5*time.Second); es[0].MessageID != "m1" || es[1].MessageID != "m2" {
		t.Fatalf("publishes %+v", es)
	}
	if err := p.Toxics.RemoveToxic(t.Context(), "wire-up"); err != nil {
		t.Fatal(err)
	}
	write(t, c, pub3[9:])
	server.waitReceived(t, cat(amqpHeader, pub1, pub3), 5*time.Second)
	if n := len(h.of(AMQPPublish)); n != 2 {
		t.Fatalf("saw %d publishes after the toxic left, want 2", n)
	}
}

// DropReset closes both directions; a stalled direction forwards nothing while the other goes
// on; a frozen epoch stops both directions of its connections only.
func TestToxicResetStallFreeze(t *testing.T) {
	start := amqpOther(0, 10, 10)
	reply := func(c *fakeConn) { _, _ = c.Write(start) }
	srv := newToxiproxy(t)
	h := newRecordHook(func(e Event, n int) Action {
		switch {
		case e.Kind == AMQPAck && e.DeliveryTag == 1:
			return DropReset
		case e.Kind == AMQPAck && e.DeliveryTag == 2:
			return Withhold
		}
		return Pass
	})
	id, stop := Watch(h)
	defer stop()
	fake := newFakeServer(t, reply)
	p := newProxy(t, srv, "amqp", fake.ln.Addr().String())
	addWire(t, p, id, AMQP)

	t.Run("drop-reset", func(t *testing.T) {
		c := dial(t, p.Listen)
		readN(t, c, len(start), 5*time.Second)
		write(t, c, cat(amqpHeader, amqpHeartbeat(), amqpAck(1, 1, false), amqpHeartbeat()))
		server := fake.conn(t, 0)
		select {
		case <-server.eof:
		case <-time.After(5 * time.Second):
			t.Fatal("the server's side stayed open")
		}
		if got := server.received(); !bytes.Equal(got, cat(amqpHeader, amqpHeartbeat())) {
			t.Fatalf("server received %q", got)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Fatalf("client read %d bytes, %v; want the connection closed", n, err)
		}
	})
	t.Run("withhold", func(t *testing.T) {
		c := dial(t, p.Listen)
		readN(t, c, len(start), 5*time.Second)
		write(t, c, cat(amqpHeader, amqpHeartbeat(), amqpAck(1, 2, false)))
		h.waitFor(t, AMQPAck, 2, 5*time.Second)
		write(t, c, amqpAck(1, 3, false))
		server := fake.conn(t, 1)
		_, _ = server.Write(amqpHeartbeat())
		readN(t, c, len(amqpHeartbeat()), 5*time.Second) // the other direction goes on
		time.Sleep(100 * time.Millisecond)
		if got := server.received(); !bytes.Equal(got, cat(amqpHeader, amqpHeartbeat())) {
			t.Fatalf("server received %q", got)
		}
	})
	t.Run("frozen", func(t *testing.T) {
		h.setEpoch(40)
		c := dial(t, p.Listen)
		readN(t, c, len(start), 5*time.Second)
		h.setEpoch(41)
		other := dial(t, p.Listen)
		readN(t, other, len(start), 5*time.Second)
		h.freeze(40)
		write(t, c, cat(amqpHeader, amqpHeartbeat()))
		write(t, other, cat(amqpHeader, amqpHeartbeat()))
		fake.conn(t, 3).waitReceived(t, cat(amqpHeader, amqpHeartbeat()), 5*time.Second)
		frozen := fake.conn(t, 2)
		_, _ = frozen.Write(amqpHeartbeat())
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, _ := c.Read(make([]byte, 1)); n != 0 {
			t.Fatal("a frozen connection forwarded downstream")
		}
		if got := frozen.received(); len(got) != 0 {
			t.Fatalf("a frozen connection forwarded upstream: %q", got)
		}
	})
}

func isReset(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "broken pipe"))
}

// A stopped hook, or a toxic naming no hook, passes everything.
func TestToxicUnwatchedPasses(t *testing.T) {
	srv := newToxiproxy(t)
	h := newRecordHook(func(Event, int) Action { return Drop })
	id, stop := Watch(h)
	fake := newFakeServer(t, nil)
	p := newProxy(t, srv, "amqp", fake.ln.Addr().String())
	addWire(t, p, id, AMQP)
	stop()
	c := dial(t, p.Listen)
	in := cat(amqpHeader, amqpAck(1, 1, false))
	write(t, c, in)
	fake.conn(t, 0).waitReceived(t, in, 5*time.Second)

	q := newProxy(t, srv, "amqp-nohook", fake.ln.Addr().String())
	addWire(t, q, "wire-none", AMQP)
	c = dial(t, q.Listen)
	write(t, c, in)
	fake.conn(t, 1).waitReceived(t, in, 5*time.Second)
	if n := len(h.of(AMQPAck)); n != 0 {
		t.Fatalf("a stopped hook saw %d acks", n)
	}
}

// A toxic added to an open connection does not parse it (its framing is unknown) but freezes it.
func TestToxicAddedToOpenLink(t *testing.T) {
	srv := newToxiproxy(t)
	h := newRecordHook(func(Event, int) Action { return Drop })
	h.setEpoch(9)
	id, stop := Watch(h)
	defer stop()
	fake := newFakeServer(t, nil)
	p := newProxy(t, srv, "amqp", fake.ln.Addr().String())
	c := dial(t, p.Listen)
	write(t, c, amqpHeader)
	server := fake.conn(t, 0)
	server.waitReceived(t, amqpHeader, 5*time.Second)
	addWire(t, p, id, AMQP)
	write(t, c, amqpAck(1, 1, false))
	server.waitReceived(t, cat(amqpHeader, amqpAck(1, 1, false)), 5*time.Second)
	if n := len(h.of(AMQPAck)) + len(h.of(AMQPConfirm)); n != 0 {
		t.Fatalf("saw %d events on a link joined in the middle", n)
	}
	h.freeze(9)
	write(t, c, amqpAck(1, 2, false))
	time.Sleep(100 * time.Millisecond)
	if got := server.received(); !bytes.Equal(got, cat(amqpHeader, amqpAck(1, 1, false))) {
		t.Fatalf("a frozen link forwarded: %q", got)
	}
}

// endHook is a recordHook that is a Closer: it records the directions that ended.
type endHook struct {
	*recordHook
	ended chan [2]uint64 // conn, 1 when upstream
}

func (h *endHook) Ended(conn uint64, upstream bool) {
	var up uint64
	if upstream {
		up = 1
	}
	h.ended <- [2]uint64{conn, up}
}

// A Closer hook is told when each direction of a connection ends: after the client closes it,
// and after a DropReset closes it.
func TestToxicTellsEnds(t *testing.T) {
	tests := []struct {
		name  string
		rule  func(Event, int) Action
		close bool // the client closes the connection
	}{
		{name: "client closes", close: true},
		{name: "drop-reset", rule: on(AMQPAck, 1, DropReset)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newToxiproxy(t)
			h := &endHook{recordHook: newRecordHook(tc.rule), ended: make(chan [2]uint64, 4)}
			id, stop := Watch(h)
			defer stop()
			p := newProxy(t, srv, "amqp-ends", newFakeServer(t, func(*fakeConn) {}).ln.Addr().String())
			addWire(t, p, id, AMQP)
			c := dial(t, p.Listen)
			write(t, c, cat(amqpHeader, amqpAck(1, 1, false)))
			h.waitFor(t, AMQPAck, 1, 5*time.Second)
			if tc.close {
				_ = c.Close()
			}
			seen := map[uint64]bool{}
			for len(seen) < 2 {
				select {
				case e := <-h.ended:
					if e[0] != 1 || seen[e[1]] {
						t.Fatalf("ended %v, want connection 1 once each way (seen %v)", e, seen)
					}
					seen[e[1]] = true
				case <-time.After(5 * time.Second):
					t.Fatalf("directions ended: %v, want both", seen)
				}
			}
		})
	}
}

// A deferred delivery that no next delivery releases goes out on its own after DeferWait.
func TestToxicReleasesALoneDeferredDelivery(t *testing.T) {
	del := cat(amqpDeliver(1, 1, false), amqpContent(1, 3, "d1"), amqpBody(1, "one"))
	srv := newToxiproxy(t)
	h := newRecordHook(on(AMQPDeliver, 1, Defer))
	id, stop := Watch(h)
	defer stop()
	p := newProxy(t, srv, "amqp-lone", newFakeServer(t, func(c *fakeConn) { _, _ = c.Write(del) }).ln.Addr().String())
	addWire(t, p, id, AMQP)
	c := dial(t, p.Listen)
	write(t, c, amqpHeader)
	start := time.Now()
	if got := readN(t, c, len(del), 5*time.Second); !bytes.Equal(got, del) {
		t.Fatalf("got %x, want the delivery %x", got, del)
	}
	if waited := time.Since(start); waited < DeferWait/2 {
		t.Errorf("the deferred delivery came after %v, before it was released", waited)
	}
}
