// Package infra finds the servers a real run uses and says what they must offer: explicit URLs
// from the environment, servers on the local default ports, then a starter given with
// WithContainers (package harness/real/containers runs them in Docker). It also holds the
// error of a server that cannot do what a strategy needs (ErrNoLogicalWAL).
//
// It is a leaf of the real backend: it imports only the standard library and package redact,
// so that the backend's packages (real, pg, amqp) and the test helpers (realtest) can all use
// it. It must not import testing, nor any other package of the harness.
package infra

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/deliveryharness/harness/harness/real/redact"
)

// Environment variables that name the servers, and the one that makes missing servers a failure.
const (
	EnvPostgresURL  = "HARNESS_POSTGRES_URL"
	EnvAMQPURL      = "HARNESS_AMQP_URL"
	EnvRequireInfra = "HARNESS_REQUIRE_INFRA"
	// EnvNATSURL names the NATS JetStream server of the runs whose scenario picks the nats broker.
	EnvNATSURL = "HARNESS_NATS_URL"
)

// Default local servers, tried when no URL is given.
const (
	LocalPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	LocalAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
	LocalNATSURL     = "nats://127.0.0.1:4222"
)

// The local servers Discover tries; the package's tests point them at ports where nothing answers.
var (
	localPostgresURL = LocalPostgresURL
	localAMQPURL     = LocalAMQPURL
)

// Infra names the servers a run uses and where they came from.
type Infra struct {
	PostgresURL string
	AMQPURL     string
	// NATSURL is the NATS JetStream server, for the scenarios that pick the nats broker:
	// HARNESS_NATS_URL, else LocalNATSURL. Discover does not require it to answer (RabbitMQ runs
	// do not use it); RequireNATS does.
	NATSURL string
	Source  string // "env", "local" or "testcontainers"
	// Close stops what discovery started (containers); nil when it started nothing.
	Close func(ctx context.Context) error
}

// ErrNoInfra: no server could be found. Discover's error wraps it in one line that says what to set.
var ErrNoInfra = errors.New("real: no PostgreSQL and RabbitMQ found")

// ErrNoLogicalWAL: the server cannot decode its log. Creating a replication slot (and so a
// log-tailing run) on such a server gives an error that wraps it, in one line that says how to
// fix the server.
var ErrNoLogicalWAL = errors.New("real: log-tailing needs wal_level=logical on the server " +
	"(ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL)")

// Option adds to what Discover tries.
type Option func(*discovery)

type discovery struct {
	containers func(ctx context.Context) (Infra, error)
}

// WithContainers makes start the last step of discovery, tried when neither the environment nor
// the local ports give servers. In practice start is containers.Start (package
// harness/real/containers), which runs both servers in Docker with testcontainers-go; that
// package stays apart because testcontainers brings the testing package and testify into any
// binary that imports it. start returns an Infra whose Close stops what it started, or an error
// at once when it cannot start anything (no Docker engine).
func WithContainers(start func(ctx context.Context) (Infra, error)) Option {
	return func(d *discovery) { d.containers = start }
}

// Discover finds the servers, in this order: the URLs in HARNESS_POSTGRES_URL and
// HARNESS_AMQP_URL (both or neither); servers answering on the default local ports; the
// WithContainers starter, if given. Otherwise it returns an error that wraps ErrNoInfra and says
// what to set. No error carries a password.
func Discover(ctx context.Context, opts ...Option) (Infra, error) {
	var d discovery
	for _, o := range opts {
		o(&d)
	}
	pg, mq := os.Getenv(EnvPostgresURL), os.Getenv(EnvAMQPURL)
	if pg != "" || mq != "" {
		if pg == "" || mq == "" {
			set, unset := EnvPostgresURL, EnvAMQPURL
			if pg == "" {
				set, unset = unset, set
			}
			return Infra{}, fmt.Errorf("real: %s is set but %s is not: set both %s and %s, or neither",
				set, unset, EnvPostgresURL, EnvAMQPURL)
		}
		return Infra{PostgresURL: pg, AMQPURL: mq, NATSURL: natsURL(), Source: "env"}, nil
	}
	pgUp, mqUp := reachable(ctx, localPostgresURL), reachable(ctx, localAMQPURL)
	if pgUp && mqUp {
		return Infra{PostgresURL: localPostgresURL, AMQPURL: localAMQPURL, NATSURL: natsURL(), Source: "local"}, nil
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "set %s and %s, or start them on %s and %s (%s)", EnvPostgresURL, EnvAMQPURL,
		redact.Host(localPostgresURL), redact.Host(localAMQPURL), answering(pgUp, mqUp))
	if d.containers == nil {
		msg.WriteString("; this caller does not start containers (see package harness/real/containers)")
		return Infra{}, fmt.Errorf("%w: %s", ErrNoInfra, msg.String())
	}
	inf, err := d.containers(ctx)
	if err == nil {
		if inf.NATSURL == "" {
			inf.NATSURL = natsURL()
		}
		return inf, nil
	}
	fmt.Fprintf(&msg, ", or make a Docker engine reachable (testcontainers: %s)", redact.Text(err.Error()))
	return Infra{}, fmt.Errorf("%w: %s", ErrNoInfra, msg.String())
}

// answering says which of the two local servers answered.
func answering(pgUp, mqUp bool) string {
	switch {
	case pgUp:
		return "PostgreSQL answers there, RabbitMQ does not"
	case mqUp:
		return "RabbitMQ answers there, PostgreSQL does not"
	}
	return "neither answers there"
}

// reachable reports whether the URL's host accepts a TCP connection within a short deadline.
func reachable(ctx context.Context, raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	d := net.Dialer{Timeout: time.Second}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// natsURL is the NATS server named in the environment, else the local default.
func natsURL() string {
	if u := os.Getenv(EnvNATSURL); u != "" {
		return u
	}
	return LocalNATSURL
}

// ErrNoNATS: the NATS server of a nats scenario does not answer. RequireNATS's error wraps it in
// one line that says what to set.
var ErrNoNATS = errors.New("real: no NATS JetStream server found")

// RequireNATS checks that inf's NATS server accepts connections (a TCP connect within a second)
// and returns an error wrapping ErrNoNATS, without a password, when it does not.
func RequireNATS(ctx context.Context, inf Infra) error {
	raw := inf.NATSURL
	if raw == "" {
		raw = natsURL()
	}
	if reachable(ctx, raw) {
		return nil
	}
	return fmt.Errorf("%w: nothing answers on %s: set %s, or start nats-server -js there (.ci/services does)",
		ErrNoNATS, redact.Host(raw), EnvNATSURL)
}
