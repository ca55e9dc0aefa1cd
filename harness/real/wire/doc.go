// Package wire holds a custom Toxiproxy toxic, "harness-wire", that reads the PostgreSQL wire
// protocol and AMQP 0-9-1 frames flowing through a proxy and lets a Go Hook decide, per
// protocol event, what happens to the bytes. The harness uses it to fire faults at exact
// protocol points in code it cannot instrument (a team's own pgx or amqp091 service): the N-th
// COMMIT reply, a publisher confirm, a consumer ack.
//
// It imports Toxiproxy's toxics and stream packages only; it must not import the rest of the
// harness. Register a hook with Watch, then add the toxic to both streams of a proxy:
//
//	id, stop := wire.Watch(hook)
//	defer stop()
//	body, _ := json.Marshal(map[string]any{"name": "wire-up", "type": wire.ToxicType,
//		"stream": "upstream", "attributes": wire.Attributes(id, wire.Postgres)})
//	proxy.Toxics.AddToxicJson(bytes.NewReader(body)) // and the same for "downstream"
//
// # Mechanisms
//
// Each connection direction keeps its parser state in the toxic's per-link state, which
// outlives re-pipes (toxics added to or removed from the link), so a chunk may end anywhere: a
// message or frame cut by a chunk boundary is kept until it is whole (PostgreSQL messages
// other than the two the parser reads stream through), and bytes go out in order. An event's bytes are held until the event is whole; then Hook.Decide is called, on
// the proxy's goroutine, and the Action says what is forwarded:
//
//   - Pass forwards the event. Hold forwards it and then stalls the direction; Withhold stalls
//     it from the event's first byte. A stalled direction reads and discards its input until the
//     link ends (like Toxiproxy's timeout toxic with timeout 0).
//   - Drop removes the event's bytes. DropReset removes them and closes the connection: the
//     toxic closes its output, the proxy closes that side's socket and with it the other
//     direction. It is an orderly close (FIN), not the RST that reset_peer arranges with
//     SO_LINGER 0, which Toxiproxy grants only to its own reset_peer type.
//   - Defer (AMQPDeliver only; Pass for other kinds) keeps the delivery back until the next
//     delivery on the same connection has been passed, then forwards it right after that one.
//     Deferred deliveries of a connection that ends first are dropped; with no next delivery
//     within DeferWait they go out on their own.
//   - Hook.Frozen is asked for every chunk, in both directions, with the epoch the connection
//     opened at; a frozen direction stalls for good, even if the hook thaws later (its stream
//     has a hole).
//
// PostgreSQL (downstream only; the client's side is not parsed, only frozen): typed messages
// (type byte, int32 length counting itself). A COMMIT is seen as the server's CommandComplete
// with tag "COMMIT"; the PGCommit event spans from it to the next ReadyForQuery, whatever comes
// between them (a NotificationResponse, or the replies to statements pipelined after the
// COMMIT). Every other ReadyForQuery is a PGReady event. Only CommandComplete and
// ReadyForQuery are kept whole; other messages, rows included, stream through as they come. At
// the start of the stream an 'N' byte (the server refusing an SSLRequest or GSSENCRequest) is
// skipped; an 'S' or 'G' (encryption accepted), or a direct TLS handshake, makes the link
// opaque.
//
// AMQP 0-9-1: upstream, the protocol header "AMQP\x00\x00\x09\x01", then frames (type,
// channel, size, payload, frame-end 0xCE) both ways. basic.publish (upstream) and
// basic.deliver (downstream) events span the method frame, its content header (where the
// message-id property is read) and its body frames; basic.ack is AMQPAck upstream (a consumer's
// ack) and AMQPConfirm downstream (a publisher confirm); basic.nack and basic.reject upstream
// are AMQPNack; channel.close from either side is AMQPChannelClose (the broker requeues what
// it delivered on the channel and was not acknowledged). Heartbeats and every other frame pass.
//
// Ends: a Hook that is also a Closer is told when each direction of a connection ends (its
// input closed, or a DropReset closed it), once, after the direction's last event. With the
// AMQPChannelClose events this lets a hook keep the deliveries each connection holds
// unacknowledged, and the connections still waiting on a withheld reply.
//
// Connections: a connection's two directions share their Event.Conn number and epoch when the
// toxic was on both streams as the connection opened (the proxy opens both links from one
// goroutine, one after the other, which is what pairs them). A toxic added to a connection
// already open numbers that link on its own and does not parse it (its next chunk may start
// anywhere in a message): that connection sees no events, only freezing; add the toxics before
// the process connects. Removing the toxic forwards what it held and lets the link go on
// unparsed, except that a stalled or reset direction is closed. A toxic whose hook is not
// registered, or has been stopped, passes everything; a direction stalled before the stop stays
// stalled. The toxic's toxicity must stay 1: a link that Toxiproxy runs through a noop instead
// for a while loses its framing.
//
// # Limits
//
//   - TLS, GSS encryption, and anything the parser cannot frame (an unknown PostgreSQL message
//     type, a length out of range, an AMQP frame over 128 MiB, an unknown frame type, a missing
//     frame-end) make the link opaque: everything passes and no events follow. Nothing panics.
//   - The extended query protocol is seen: a COMMIT sent with Parse/Bind/Execute still yields
//     CommandComplete "COMMIT". A COMMIT outside a transaction (answered with a warning and the
//     same tag) is seen too. A COMMIT of an aborted transaction answers "ROLLBACK" and is no
//     PGCommit; nor is COMMIT PREPARED. Implicit (autocommit) transactions produce no COMMIT tag
//     and are not seen: only their PGReady is.
//   - Pipelined queries: the event holds all the replies from the COMMIT's CommandComplete to the
//     next ReadyForQuery, so Withhold or Drop of a pipelined COMMIT also keeps back the replies
//     to what was pipelined after it in the same round trip.
//   - A multiple=true ack or confirm is one event whatever it covers (Event.Multiple says so);
//     dropping it drops every acknowledgement it carried.
//   - While a publish or delivery is being assembled, frames of other channels keep their place
//     but are not parsed for events of their own (clients and RabbitMQ send a message's frames
//     together, so this does not arise in practice). A publish or delivery held over 128 MiB
//     passes unseen.
//   - Heartbeats pass, and are held like any other frame that falls inside a held event; a
//     stalled direction stalls its heartbeats too, so the peer's heartbeat timeout eventually
//     closes the connection.
//   - Defer works within one connection only, and needs a next delivery to come: with a
//     prefetch of 1 the broker sends none until the deferred one is acked. A deferred delivery
//     that no next one releases goes out after DeferWait without input on its direction: late,
//     not overtaken.
//   - Every event is held until whole, so large messages are buffered, and Decide runs on the
//     proxy's goroutine: a slow hook slows the link.
package wire
