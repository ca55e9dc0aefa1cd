package nats

// Connections to the server: a bounded dial, no automatic reconnect (a dead link shows as a
// closed connection, and the next call dials again, as with RabbitMQ), short pings, and errors
// without a password.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

// Timing of every NATS connection. Pings are short so that a dead link is noticed within a few
// seconds, as with the AMQP heartbeats.
const (
	dialTimeout  = 5 * time.Second  // TCP connect plus the INFO/CONNECT handshake
	opTimeout    = 10 * time.Second // one JetStream API request (stream or consumer create, info, delete)
	pingInterval = 2 * time.Second
)

// checkURL refuses a URL that cannot be parsed, without quoting it: url.Parse's error would
// carry the password.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("nats: unparsable NATS URL")
	}
	if u.Scheme != "nats" && u.Scheme != "tls" {
		return fmt.Errorf("nats: bad NATS URL %s: want scheme nats:// or tls://", redact.URL(raw))
	}
	if u.Host == "" {
		return fmt.Errorf("nats: bad NATS URL %s: no host", redact.URL(raw))
	}
	return nil
}

// scrub hides raw's password wherever it appears in err's text.
func scrub(raw string, err error) error {
	var secrets []string
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok {
			secrets = append(secrets, p)
		} else {
			secrets = append(secrets, u.User.Username()) // a token in the user part
		}
	}
	return redact.Error(err, secrets...)
}

// dial opens a NATS connection that does not reconnect by itself. Every failure wraps
// strategies.ErrChannelClosed: the server cannot be used from here.
func dial(ctx context.Context, raw, role string) (*natsgo.Conn, error) {
	if err := checkURL(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", err, strategies.ErrChannelClosed)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats: dial %s: %w: %w", redact.URL(raw), strategies.ErrChannelClosed, err)
	}
	timeout := dialTimeout
	if d, ok := ctx.Deadline(); ok && time.Until(d) < timeout {
		timeout = max(time.Millisecond, time.Until(d))
	}
	nc, err := natsgo.Connect(raw,
		natsgo.Name("harness "+role),
		natsgo.Timeout(timeout),
		natsgo.NoReconnect(),
		natsgo.PingInterval(pingInterval),
		natsgo.MaxPingsOutstanding(2),
		natsgo.NoCallbacksAfterClientClose(),
	)
	if err != nil {
		return nil, fmt.Errorf("nats: dial %s: %w: %w", redact.URL(raw), strategies.ErrChannelClosed, scrub(raw, err))
	}
	return nc, nil
}

// closed reports whether err says the connection is gone: the client closed it, the link died,
// or the server went away.
func closed(nc *natsgo.Conn, err error) bool {
	return nc.IsClosed() || errors.Is(err, natsgo.ErrConnectionClosed) || errors.Is(err, natsgo.ErrConnectionDraining) ||
		errors.Is(err, natsgo.ErrDisconnected) || errors.Is(err, natsgo.ErrStaleConnection)
}
