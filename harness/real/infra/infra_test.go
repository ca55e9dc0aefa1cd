package infra

import (
	"context"
	"errors"
	"net"
	"os"
	"strings"
	"testing"
)

// infraUnsetEnv clears the URL variables for the test (t.Setenv restores them afterwards).
func infraUnsetEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{EnvPostgresURL, EnvAMQPURL} {
		t.Setenv(v, "")
		if err := os.Unsetenv(v); err != nil {
			t.Fatal(err)
		}
	}
}

// infraDeadLocal points the local URLs at ports where nothing answers, for the test.
func infraDeadLocal(t *testing.T) {
	t.Helper()
	dead := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		return addr
	}
	pg, mq := localPostgresURL, localAMQPURL
	localPostgresURL = "postgres://postgres:pgsecret@" + dead() + "/test?sslmode=disable"
	localAMQPURL = "amqp://guest:mqsecret@" + dead() + "/"
	t.Cleanup(func() { localPostgresURL, localAMQPURL = pg, mq })
}

// infraStarter is a containers step that records its calls and its Close.
type infraStarter struct {
	err     error
	started int
	closed  int
}

func (s *infraStarter) start(context.Context) (Infra, error) {
	s.started++
	if s.err != nil {
		return Infra{}, s.err
	}
	return Infra{
		PostgresURL: "postgres://postgres:ctrsecret@127.0.0.1:49153/test?sslmode=disable",
		AMQPURL:     "amqp://harness:ctrsecret@127.0.0.1:49154/",
		Source:      "testcontainers",
		Close:       func(context.Context) error { s.closed++; return nil },
	}, nil
}

// Not parallel: the tests change the environment and the local URLs.
func TestDiscover(t *testing.T) {
	const (
		envPG = "postgres://u:envsecret@db.example:5432/x"
		envMQ = "amqp://u:envsecret@mq.example:5672/"
	)
	noEngine := errors.New("no Docker engine reachable: rootless Docker not found, tcp://u:dockersecret@docker.example:2376")
	for _, tc := range []struct {
		name        string
		pg, mq      string // environment; empty: unset
		deadLocal   bool
		starter     *infraStarter // nil: no containers step
		wantSource  string        // empty: want an error
		wantNoInfra bool
		wantInMsg   []string
		started     int
	}{
		{name: "env URLs win", pg: envPG, mq: envMQ, starter: &infraStarter{}, wantSource: "env"},
		{name: "env URLs win over dead local ports", pg: envPG, mq: envMQ, deadLocal: true, starter: &infraStarter{}, wantSource: "env"},
		{name: "postgres URL without amqp URL", pg: envPG, starter: &infraStarter{},
			wantInMsg: []string{EnvPostgresURL, EnvAMQPURL, "is not"}},
		{name: "amqp URL without postgres URL", mq: envMQ, starter: &infraStarter{},
			wantInMsg: []string{EnvPostgresURL, EnvAMQPURL, "is not"}},
		{name: "local ports", starter: &infraStarter{}, wantSource: "local"},
		{name: "containers when nothing answers", deadLocal: true, starter: &infraStarter{}, wantSource: "testcontainers", started: 1},
		{name: "no Docker engine", deadLocal: true, starter: &infraStarter{err: noEngine}, wantNoInfra: true,
			wantInMsg: []string{EnvPostgresURL, EnvAMQPURL, "neither answers", "Docker engine", "rootless Docker not found"}, started: 1},
		{name: "no containers step", deadLocal: true, wantNoInfra: true,
			wantInMsg: []string{EnvPostgresURL, EnvAMQPURL, "neither answers", "does not start containers"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.deadLocal {
				infraDeadLocal(t)
			} else if !reachable(t.Context(), localPostgresURL) || !reachable(t.Context(), localAMQPURL) {
				if os.Getenv(EnvRequireInfra) == "1" {
					t.Fatalf("the local servers do not answer (%s=1)", EnvRequireInfra)
				}
				t.Skip("needs PostgreSQL and RabbitMQ on the local default ports")
			}
			infraUnsetEnv(t)
			if tc.pg != "" {
				t.Setenv(EnvPostgresURL, tc.pg)
			}
			if tc.mq != "" {
				t.Setenv(EnvAMQPURL, tc.mq)
			}
			var opts []Option
			if tc.starter != nil {
				opts = append(opts, WithContainers(tc.starter.start))
			}
			inf, err := Discover(t.Context(), opts...)
			if tc.wantSource != "" {
				if err != nil {
					t.Fatalf("discover: %v", err)
				}
				if inf.Source != tc.wantSource {
					t.Errorf("source %q, want %q", inf.Source, tc.wantSource)
				}
				if inf.PostgresURL == "" || inf.AMQPURL == "" {
					t.Errorf("infra from %s without URLs", inf.Source)
				}
				if tc.wantSource == "env" && (inf.PostgresURL != tc.pg || inf.AMQPURL != tc.mq) {
					t.Errorf("env infra has other URLs than the environment's")
				}
			} else {
				if err == nil {
					t.Fatalf("discover: got servers from %s, want an error", inf.Source)
				}
				if errors.Is(err, ErrNoInfra) != tc.wantNoInfra {
					t.Errorf("errors.Is(%v, ErrNoInfra) = %v, want %v", err, !tc.wantNoInfra, tc.wantNoInfra)
				}
				msg := err.Error()
				t.Log(msg)
				for _, want := range tc.wantInMsg {
					if !strings.Contains(msg, want) {
						t.Errorf("error %q does not say %q", msg, want)
					}
				}
				if strings.Contains(msg, "secret") {
					t.Errorf("error shows a password: %s", msg)
				}
				if strings.ContainsAny(msg, "\n\r") {
					t.Errorf("error is not one line: %q", msg)
				}
			}
			if tc.starter != nil && tc.starter.started != tc.started {
				t.Errorf("containers step ran %d times, want %d", tc.starter.started, tc.started)
			}
		})
	}
}
