package wire

import (
	"bytes"
	"testing"
)

// A client's side of a JetStream run, as nats.go writes it: the handshake, a publish with its
// Nats-Msg-Id and reply inbox, an ack and a nak of two deliveries, a ping.
var (
	natsUp = []byte("CONNECT {\"verbose\":false,\"headers\":true}\r\nPING\r\n" +
		"SUB _INBOX.abc.* 1\r\n" +
		"HPUB harness.r1.events _INBOX.abc.7 30 37\r\nNATS/1.0\r\nNats-Msg-Id: m-1\r\n\r\n{\"a\":1}\r\n" +
		"PUB $JS.ACK.HARNESS_r1.harness-effects.1.5.5.1700000000000000000.0 4\r\n+ACK\r\n" +
		"PUB $JS.ACK.HARNESS_r1.harness-effects.2.6.7.1700000000000000000.0 4\r\n-NAK\r\n" +
		"PUB $JS.ACK.HARNESS_r1.harness-effects.1.8.9.1700000000000000000.0 4\r\n+WPI\r\n" +
		"PING\r\n")
	// The server's side: INFO, a PubAck on the inbox, two deliveries (the second a redelivery),
	// a status-only heartbeat.
	natsDown = []byte("INFO {\"server_id\":\"x\",\"headers\":true}\r\nPONG\r\n" +
		"MSG _INBOX.abc.7 1 41\r\n{\"stream\":\"HARNESS_r1\",\"seq\":5,\"x\":false}\r\n" +
		"HMSG harness.r1.events 2 $JS.ACK.HARNESS_r1.harness-effects.1.5.5.1700000000000000000.0 30 37\r\nNATS/1.0\r\nNats-Msg-Id: m-1\r\n\r\n{\"a\":1}\r\n" +
		"MSG harness.r1.events 2 $JS.ACK.HARNESS_r1.harness-effects.3.6.7.1700000000000000000.0 7\r\n{\"a\":2}\r\n" +
		"+OK\r\n-ERR 'Unknown Protocol Operation'\r\n")
)

func TestNATSEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want []Event
	}{
		{"client", natsUp, []Event{
			{Kind: NATSPublish, Upstream: true, Subject: "harness.r1.events", Reply: "_INBOX.abc.7", MessageID: "m-1"},
			{Kind: NATSAck, Upstream: true, Subject: "$JS.ACK.HARNESS_r1.harness-effects.1.5.5.1700000000000000000.0", DeliveryTag: 5},
			{Kind: NATSNack, Upstream: true, Subject: "$JS.ACK.HARNESS_r1.harness-effects.2.6.7.1700000000000000000.0", DeliveryTag: 6},
		}},
		{"server", natsDown, []Event{
			{Kind: NATSReply, Subject: "_INBOX.abc.7"},
			{Kind: NATSDeliver, Subject: "harness.r1.events", Reply: "$JS.ACK.HARNESS_r1.harness-effects.1.5.5.1700000000000000000.0", MessageID: "m-1", DeliveryTag: 5},
			{Kind: NATSDeliver, Subject: "harness.r1.events", Reply: "$JS.ACK.HARNESS_r1.harness-effects.3.6.7.1700000000000000000.0", DeliveryTag: 6, Redelivered: true},
		}},
	} {
		for how, chunks := range chunkings(tc.in) {
			out, events, reset := runFlow(NATS, chunks, &scriptHook{})
			if reset || !bytes.Equal(out, tc.in) {
				t.Fatalf("%s %s: passing everything changed the stream (reset %v):\n%q", tc.name, how, reset, out)
			}
			if len(events) != len(tc.want) {
				t.Fatalf("%s %s: events %+v, want %+v", tc.name, how, events, tc.want)
			}
			for i, e := range events {
				w := tc.want[i]
				w.Conn, w.Epoch = 3, 7
				if e != w {
					t.Fatalf("%s %s: event %d = %+v, want %+v", tc.name, how, i, e, w)
				}
			}
		}
	}
}

// Dropping the PubAck removes exactly its message op; dropping an ack with a reset removes it and
// ends the connection before what follows.
func TestNATSDrop(t *testing.T) {
	pubAck := "MSG _INBOX.abc.7 1 41\r\n{\"stream\":\"HARNESS_r1\",\"seq\":5,\"x\":false}\r\n"
	for how, chunks := range chunkings(natsDown) {
		out, _, reset := runFlow(NATS, chunks, &scriptHook{rule: on(NATSReply, 1, Drop)})
		if want := bytes.Replace(natsDown, []byte(pubAck), nil, 1); reset || !bytes.Equal(out, want) {
			t.Fatalf("%s: drop of the PubAck forwarded %q", how, out)
		}
	}
	ack := "PUB $JS.ACK.HARNESS_r1.harness-effects.1.5.5.1700000000000000000.0 4\r\n+ACK\r\n"
	for how, chunks := range chunkings(natsUp) {
		out, _, reset := runFlow(NATS, chunks, &scriptHook{rule: on(NATSAck, 1, DropReset)})
		want := natsUp[:bytes.Index(natsUp, []byte(ack))]
		if !reset || !bytes.Equal(out, want) {
			t.Fatalf("%s: drop-reset of the ack: reset %v, forwarded %q", how, reset, out)
		}
	}
}

// What the parser cannot frame makes the link opaque: everything passes, nothing panics.
func TestNATSOpaque(t *testing.T) {
	for _, in := range [][]byte{
		[]byte("INFO {}\r\nMSG a 1 notanumber\r\nxyz\r\n"),
		[]byte("CONNECT {}\r\nPUB a 3\r\nabcdef\r\nPING\r\n"), // the payload is longer than announced
		append([]byte("INFO "), bytes.Repeat([]byte("x"), maxNATSLine+10)...),
	} {
		out, events, reset := runFlow(NATS, [][]byte{in}, &scriptHook{rule: func(Event, int) Action { return Drop }})
		if reset || !bytes.Equal(out, in) || len(events) != 0 {
			t.Errorf("%q: forwarded %q, events %v", in[:min(len(in), 40)], out[:min(len(out), 40)], events)
		}
	}
}
