// Package containers starts PostgreSQL and RabbitMQ in Docker with testcontainers-go, as the last
// step of the real backend's discovery (infra.WithContainers(containers.Start)).
//
// It is a package of its own because testcontainers-go imports the testing package and testify
// outside its tests: a binary that imports this package carries them. It is for tests only (the
// CLI's, the conformance and fidelity suites); the real backend's packages must not import it.
// It imports only the backend's leaves (infra, realtest, redact).
//
// Containers are removed by Infra.Close, and otherwise by testcontainers' reaper container (Ryuk)
// when the process that started them exits; TESTCONTAINERS_RYUK_DISABLED=true turns the reaper
// off, as testcontainers documents.
package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/modules/postgres"
	"github.com/testcontainers/testcontainers-go/modules/rabbitmq"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/real/redact"
)

// Images of the servers Start runs.
const (
	PostgresImage = "postgres:16-alpine"
	RabbitMQImage = "rabbitmq:3.13-alpine"
)

// Names in the servers Start runs. The password is drawn anew for each Start.
const (
	database = "test"
	pgUser   = "postgres"
	mqUser   = "harness" // not guest: RabbitMQ lets guest in from loopback only
)

// engineCheckTimeout bounds the question "is a Docker engine reachable?" that Start asks first.
const engineCheckTimeout = 5 * time.Second

// Start runs PostgreSQL (wal_level=logical, for log tailing; fsync off, as the module does by
// default) and RabbitMQ in two containers and returns their URLs, with Source "testcontainers"
// and a Close that terminates both. Without a reachable Docker engine it returns an error at once.
// No error carries the password.
func Start(ctx context.Context) (infra.Infra, error) {
	if err := EngineReachable(ctx); err != nil {
		return infra.Infra{}, err
	}
	password, err := newPassword()
	if err != nil {
		return infra.Infra{}, err
	}
	var (
		wg       sync.WaitGroup
		pg       *postgres.PostgresContainer
		mq       *rabbitmq.RabbitMQContainer
		pgURL    string
		mqURL    string
		pgErr    error
		mqErr    error
		scrubbed = func(err error) error { return redact.Error(err, password) }
	)
	wg.Go(func() {
		pg, pgErr = postgres.Run(ctx, PostgresImage,
			postgres.WithDatabase(database),
			postgres.WithUsername(pgUser),
			postgres.WithPassword(password),
			postgres.BasicWaitStrategies(),
			testcontainers.WithCmd("postgres", "-c", "fsync=off", "-c", "wal_level=logical"),
		)
		if pgErr == nil {
			pgURL, pgErr = pg.ConnectionString(ctx, "sslmode=disable")
		}
	})
	wg.Go(func() {
		mq, mqErr = rabbitmq.Run(ctx, RabbitMQImage,
			rabbitmq.WithAdminUsername(mqUser),
			rabbitmq.WithAdminPassword(password),
		)
		if mqErr == nil {
			mqURL, mqErr = mq.AmqpURL(ctx)
		}
	})
	wg.Wait()
	stop := func(ctx context.Context) error {
		return errors.Join(
			terminate(ctx, "postgres", pg),
			terminate(ctx, "rabbitmq", mq),
		)
	}
	if pgErr != nil || mqErr != nil {
		var errs []error
		if pgErr != nil {
			errs = append(errs, fmt.Errorf("postgres container: %w", scrubbed(pgErr)))
		}
		if mqErr != nil {
			errs = append(errs, fmt.Errorf("rabbitmq container: %w", scrubbed(mqErr)))
		}
		if err := stop(context.WithoutCancel(ctx)); err != nil {
			errs = append(errs, scrubbed(err))
		}
		return infra.Infra{}, errors.Join(errs...)
	}
	return infra.Infra{
		PostgresURL: pgURL,
		AMQPURL:     strings.TrimSuffix(mqURL, "/") + "/",
		Source:      "testcontainers",
		Close:       func(ctx context.Context) error { return redact.Error(stop(ctx), password) },
	}, nil
}

// Require is realtest.Require with containers as the last step of discovery: the environment's
// URLs, the local ports, then two containers, stopped when the test ends. Each call that gets that far
// starts two containers (seconds each); a suite that needs them often is better served by
// starting them once with Start and passing the URLs on.
func Require(t testing.TB) infra.Infra {
	t.Helper()
	return realtest.RequireWith(t, infra.WithContainers(Start))
}

// EngineReachable returns nil when a Docker engine answers within a few seconds, else an error
// that says so.
func EngineReachable(ctx context.Context) (err error) {
	ctx, cancel := context.WithTimeout(ctx, engineCheckTimeout)
	defer cancel()
	defer func() {
		// The provider panics on some broken Docker set-ups; treat that as no engine.
		if r := recover(); r != nil {
			err = fmt.Errorf("no Docker engine reachable: %v", r)
		}
	}()
	p, err := testcontainers.NewDockerProvider()
	if err != nil {
		return fmt.Errorf("no Docker engine reachable: %w", err)
	}
	defer func() { _ = p.Close() }()
	if err := p.Health(ctx); err != nil {
		return fmt.Errorf("no Docker engine reachable: %w", err)
	}
	return nil
}

// terminate stops and removes c, if it was created.
func terminate(ctx context.Context, what string, c testcontainers.Container) error {
	if err := testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx)); err != nil {
		return fmt.Errorf("%s container: %w", what, err)
	}
	return nil
}

func newPassword() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("containers: draw a password: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}
