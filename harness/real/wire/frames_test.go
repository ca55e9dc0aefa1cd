package wire

import (
	"encoding/binary"
	"slices"
)

// Builders of synthetic PostgreSQL messages and AMQP frames for the parser tests.

func cat(parts ...[]byte) []byte { return slices.Concat(parts...) }

// pgMsg is a PostgreSQL typed message.
func pgMsg(typ byte, body []byte) []byte {
	m := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(m[1:], uint32(4+len(body)))
	return append(m, body...)
}

func pgComplete(tag string) []byte { return pgMsg('C', append([]byte(tag), 0)) }
func pgReady(status byte) []byte   { return pgMsg('Z', []byte{status}) }

// pgStartup is a server's reply to a connection's start, up to its first ReadyForQuery.
func pgStartup() []byte {
	return cat(
		pgMsg('R', []byte{0, 0, 0, 0}),
		pgMsg('S', []byte("server_version\x0016.4\x00")),
		pgMsg('K', []byte{0, 0, 0, 1, 0, 0, 0, 2}),
		pgReady('I'),
	)
}

func frame(typ byte, ch uint16, payload []byte) []byte {
	f := []byte{typ, 0, 0, 0, 0, 0, 0}
	binary.BigEndian.PutUint16(f[1:], ch)
	binary.BigEndian.PutUint32(f[3:], uint32(len(payload)))
	return append(append(f, payload...), frameEnd)
}

func method(ch, class, m uint16, args []byte) []byte {
	p := binary.BigEndian.AppendUint16(nil, class)
	p = binary.BigEndian.AppendUint16(p, m)
	return frame(frameMethod, ch, append(p, args...))
}

func shortstr(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

func bit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func amqpPublish(ch uint16) []byte {
	return method(ch, classBasic, methodPublish, cat([]byte{0, 0}, shortstr(""), shortstr("q"), []byte{0}))
}

func amqpDeliver(ch uint16, tag uint64, redelivered bool) []byte {
	return method(ch, classBasic, methodDeliver, cat(shortstr("ctag-1"), u64(tag), []byte{bit(redelivered)}, shortstr(""), shortstr("q")))
}

// amqpContent is a content header with content-type, headers, delivery-mode and, when id is not
// empty, message-id.
func amqpContent(ch uint16, size uint64, id string) []byte {
	flags := uint16(1<<15 | 1<<13 | 1<<12)
	props := cat(shortstr("text/plain"), []byte{0, 0, 0, 5, 1, 'k', 't', 0, 0}, []byte{2})
	if id != "" {
		flags |= 1 << 7
		props = append(props, shortstr(id)...)
	}
	p := cat([]byte{0, classBasic, 0, 0}, u64(size), binary.BigEndian.AppendUint16(nil, flags), props)
	return frame(frameHeader, ch, p)
}

func amqpBody(ch uint16, s string) []byte { return frame(frameBody, ch, []byte(s)) }

func amqpAck(ch uint16, tag uint64, multiple bool) []byte {
	return method(ch, classBasic, methodAck, append(u64(tag), bit(multiple)))
}

func amqpNack(ch uint16, tag uint64, multiple bool) []byte {
	return method(ch, classBasic, methodNack, append(u64(tag), bit(multiple)|2))
}

func amqpReject(ch uint16, tag uint64) []byte {
	return method(ch, classBasic, methodReject, append(u64(tag), 1))
}

func amqpHeartbeat() []byte { return frame(frameHeartbeat, 0, nil) }

// amqpOther is a method frame of another class (connection, channel, queue...).
func amqpOther(ch uint16, class, m uint16) []byte {
	return method(ch, class, m, []byte("some arguments"))
}
