package containers

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/testcontainers/testcontainers-go"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/redact"
)

// TestStart starts both servers in Docker and checks that they answer: PostgreSQL with
// wal_level=logical, RabbitMQ with a channel. Without a Docker engine it skips.
func TestStart(t *testing.T) {
	testcontainers.SkipIfProviderIsNotHealthy(t)
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	inf, err := Start(ctx)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = inf.Close(context.Background())
		}
	})
	if inf.Source != "testcontainers" || inf.Close == nil {
		t.Errorf("infra %+v: want source testcontainers and a Close", infra.Infra{Source: inf.Source})
	}
	conn, err := pgx.Connect(ctx, inf.PostgresURL)
	if err != nil {
		t.Fatalf("connect to %s: %v", redact.URL(inf.PostgresURL), err)
	}
	var wal string
	if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close(ctx)
	if wal != "logical" {
		t.Errorf("wal_level %q, want logical", wal)
	}
	mq, err := amqp.Dial(inf.AMQPURL)
	if err != nil {
		t.Fatalf("dial %s: %v", redact.URL(inf.AMQPURL), err)
	}
	ch, err := mq.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	_ = ch.Close()
	_ = mq.Close()
	closed = true
	if err := inf.Close(ctx); err != nil {
		t.Errorf("close: %v", err)
	}
	if _, err := pgx.Connect(ctx, inf.PostgresURL); err == nil {
		t.Error("PostgreSQL still answers after Close")
	}
}

// TestStartWithoutEngineFailsFast: with no Docker engine, Start returns an error at once, and
// discovery with the containers step falls through to ErrNoInfra. It skips where an engine runs.
func TestStartWithoutEngineFailsFast(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if EngineReachable(ctx) == nil {
		t.Skip("a Docker engine is reachable: TestStart covers this machine")
	}
	start := time.Now()
	_, err := Start(ctx)
	if err == nil {
		t.Fatal("Start without a Docker engine: got no error")
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("Start took %v to fail, want at once", took)
	}
	if strings.ContainsAny(err.Error(), "\n\r") {
		t.Logf("error spans lines: %q", err)
	}
	t.Log(err)

	t.Setenv(infra.EnvPostgresURL, "")
	t.Setenv(infra.EnvAMQPURL, "")
	os.Unsetenv(infra.EnvPostgresURL)
	os.Unsetenv(infra.EnvAMQPURL)
	inf, err := infra.Discover(ctx, infra.WithContainers(Start))
	switch {
	case err == nil && inf.Source == "local":
		// Local servers answer here: discovery never reached the containers step.
	case err == nil:
		t.Fatalf("discovery without servers or Docker: got %+v", infra.Infra{Source: inf.Source})
	case !errors.Is(err, infra.ErrNoInfra):
		t.Fatalf("discovery without servers or Docker: got %v, want ErrNoInfra", err)
	case !strings.Contains(err.Error(), "Docker"):
		t.Errorf("error %q does not mention Docker", err)
	}
}

// TestRequire: containers.Require finds servers as realtest.Require does where they answer (here
// through the environment or the local ports), and otherwise starts containers or skips.
func TestRequire(t *testing.T) {
	inf := Require(t)
	if inf.PostgresURL == "" || inf.AMQPURL == "" {
		t.Fatalf("infra without URLs (source %q)", inf.Source)
	}
	t.Logf("servers from %s: %s, %s", inf.Source, redact.URL(inf.PostgresURL), redact.URL(inf.AMQPURL))
}
