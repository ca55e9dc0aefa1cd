package real

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"testing"
	"time"
)

// Environment variables that name the servers, and the one that makes missing servers a failure.
const (
	EnvPostgresURL  = "HARNESS_POSTGRES_URL"
	EnvAMQPURL      = "HARNESS_AMQP_URL"
	EnvRequireInfra = "HARNESS_REQUIRE_INFRA"
)

// Default local servers, tried when no URL is given.
const (
	LocalPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	LocalAMQPURL     = "amqp://guest:guest@127.0.0.1:5672/"
)

// Infra names the servers a run uses and where they came from.
type Infra struct {
	PostgresURL string
	AMQPURL     string
	Source      string // "env", "local" or "testcontainers"
	// Close stops what discovery started (containers); nil when it started nothing.
	Close func(ctx context.Context) error
}

// ErrNoInfra: no server could be found. Its message says what to set.
var ErrNoInfra = errors.New("real: no PostgreSQL and RabbitMQ found: set " + EnvPostgresURL + " and " + EnvAMQPURL +
	", start them on 127.0.0.1:5432 and :5672, or make a Docker engine reachable")

// Discover finds the servers: the URLs in the environment, then the local default ports.
func Discover(ctx context.Context) (Infra, error) {
	pg, mq := os.Getenv(EnvPostgresURL), os.Getenv(EnvAMQPURL)
	if pg != "" || mq != "" {
		if pg == "" || mq == "" {
			return Infra{}, fmt.Errorf("real: set both %s and %s, or neither", EnvPostgresURL, EnvAMQPURL)
		}
		return Infra{PostgresURL: pg, AMQPURL: mq, Source: "env"}, nil
	}
	if reachable(ctx, LocalPostgresURL) && reachable(ctx, LocalAMQPURL) {
		return Infra{PostgresURL: LocalPostgresURL, AMQPURL: LocalAMQPURL, Source: "local"}, nil
	}
	return Infra{}, ErrNoInfra
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

// Redact hides the password of a URL, for logs, reports and errors.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// Require finds the servers for a test, or skips it with one line saying what to set; with
// HARNESS_REQUIRE_INFRA=1 a missing server fails the test instead.
func Require(t testing.TB) Infra {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inf, err := Discover(ctx)
	if err != nil {
		if os.Getenv(EnvRequireInfra) == "1" {
			t.Fatalf("%v (%s=1)", err, EnvRequireInfra)
		}
		t.Skip(err.Error())
	}
	if inf.Close != nil {
		t.Cleanup(func() { _ = inf.Close(context.Background()) })
	}
	return inf
}
