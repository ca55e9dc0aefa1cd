package realtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/redact"
)

// Require finds the servers for a test without starting any: the environment's URLs, then the
// local ports (RequireWith(t) with no option). It skips the test with one line saying what to set;
// with HARNESS_REQUIRE_INFRA=1 a missing server fails the test instead.
//
// Tests in harness/real and below use Require and so never start containers: package
// containers imports the real backend, which those tests are part of. Tests elsewhere get the
// Docker step from containers.Require.
func Require(t testing.TB) infra.Infra {
	t.Helper()
	return RequireWith(t)
}

// RequireWith is Require with discovery options, such as infra.WithContainers; what discovery
// started is stopped when the test ends.
func RequireWith(t testing.TB, opts ...infra.Option) infra.Infra {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	inf, err := infra.Discover(ctx, opts...)
	if err != nil {
		if os.Getenv(infra.EnvRequireInfra) == "1" {
			t.Fatalf("%v (%s=1)", err, infra.EnvRequireInfra)
		}
		t.Skip(err.Error())
	}
	if inf.Close != nil {
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := inf.Close(ctx); err != nil {
				t.Errorf("stop the servers discovery started: %v", err)
			}
		})
	}
	return inf
}

// RequireLogicalWAL skips a test that tails the log when the server's wal_level is not logical,
// with infra.ErrNoLogicalWAL's line; with HARNESS_REQUIRE_INFRA=1 it fails the test instead.
func RequireLogicalWAL(t testing.TB, inf infra.Infra) {
	t.Helper()
	level := WALLevel(t, inf)
	if level == "logical" {
		return
	}
	msg := fmt.Sprintf("%v; %s has wal_level=%s (on a local server `make services` sets it)",
		infra.ErrNoLogicalWAL, redact.Host(inf.PostgresURL), level)
	if os.Getenv(infra.EnvRequireInfra) == "1" {
		t.Fatalf("%s (%s=1)", msg, infra.EnvRequireInfra)
	}
	t.Skip(msg)
}

// WALLevel reads the server's wal_level; a server that cannot be asked fails the test.
func WALLevel(t testing.TB, inf infra.Infra) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, inf.PostgresURL)
	if err != nil {
		t.Fatalf("realtest: read wal_level: %v", redact.Error(err))
	}
	defer conn.Close(ctx)
	var level string
	if err := conn.QueryRow(ctx, `SHOW wal_level`).Scan(&level); err != nil {
		t.Fatalf("realtest: read wal_level of %s: %v", redact.Host(inf.PostgresURL), err)
	}
	return level
}

// RunID returns a run id unique to this test: its sanitized name and a random suffix, short
// enough for a schema name and valid in a queue name.
func RunID(t testing.TB) string {
	t.Helper()
	var b strings.Builder
	for _, r := range strings.ToLower(t.Name()) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	name := b.String()
	if len(name) > 28 {
		name = name[:28]
	}
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	return name + "_" + hex.EncodeToString(rnd[:])
}

// Context bounds a test's calls to the servers: it ends after 10 seconds, or with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// SlotsLeft returns, sorted, the replication slots among created (slot name → server URL, as
// pg.CreatedSlots gives them) that still exist: a test binary checks at its end that it left
// none behind. A slot whose database is gone is gone too (PostgreSQL drops no database that has
// slots).
func SlotsLeft(created map[string]string) ([]string, error) {
	var left []string
	for name, url := range created {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		conn, err := pgx.Connect(ctx, url)
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "3D000" {
			cancel()
			continue // a test's own database, dropped
		}
		if err != nil {
			cancel()
			return nil, fmt.Errorf("realtest: look for slot %s: %w", name, redact.Error(err))
		}
		var ok bool
		err = conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)`, name).Scan(&ok)
		_ = conn.Close(ctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("realtest: look for slot %s: %w", name, err)
		}
		if ok {
			left = append(left, name)
		}
	}
	slices.Sort(left)
	return left, nil
}
