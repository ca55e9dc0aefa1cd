package pg

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// Helpers

// pgTestSchema creates this test's schema and drops it afterwards.
func pgTestSchema(t *testing.T, inf infra.Infra) *Schema {
	t.Helper()
	s, err := CreateSchema(testCtx(t), inf.PostgresURL, testRunID(t))
	if err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Drop(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return s
}

func pgTestStore(t *testing.T, inf infra.Infra, s *Schema, workload string) *Store {
	t.Helper()
	st, err := NewStore(testCtx(t), inf.PostgresURL, s.Name, workload)
	if err != nil {
		t.Fatalf("new store: %v", err)
	}
	t.Cleanup(st.Close)
	return st
}

func pgMustBegin(t *testing.T, st *Store) *storeTx {
	t.Helper()
	tx, err := st.Begin(testCtx(t))
	if err != nil {
		t.Fatalf("begin: %v", err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	return tx.(*storeTx)
}

// pgCommitted runs fn in a transaction and commits it.
func pgCommitted(t *testing.T, st *Store, fn func(ctx context.Context, tx strategies.Tx) error) {
	t.Helper()
	ctx := testCtx(t)
	tx := pgMustBegin(t, st)
	if err := fn(ctx, tx); err != nil {
		t.Fatalf("statement: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func pgFinal(t *testing.T, s *Schema) history.Final {
	t.Helper()
	f, err := s.Final(testCtx(t))
	if err != nil {
		t.Fatalf("final: %v", err)
	}
	return f
}

func pgWantIs(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

// pgAwaitLockWait waits until the backend pid waits for a lock.
func pgAwaitLockWait(t *testing.T, c *pgx.Conn, pid uint32) {
	t.Helper()
	deadline := time.Now().Add(1500 * time.Millisecond)
	for {
		var waiting bool
		err := c.QueryRow(testCtx(t), `SELECT coalesce(bool_or(wait_event_type = 'Lock'), false) FROM pg_stat_activity WHERE pid = $1`,
			int64(pid)).Scan(&waiting)
		if err != nil {
			t.Fatal(err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("backend %d never waited for a lock", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pgReplyProxy forwards TCP to the server and can swallow the server's replies from some moment
// on, as a link that loses the reply to a COMMIT does.
type pgReplyProxy struct {
	ln      net.Listener
	swallow atomic.Bool
	mu      sync.Mutex
	conns   []net.Conn
}

// pgStartReplyProxy starts a proxy in front of rawURL's server and returns the URL through it.
func pgStartReplyProxy(t *testing.T, rawURL string) (*pgReplyProxy, string) {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgReplyProxy{ln: ln}
	upstream := u.Host
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", upstream)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, s)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(s, c); _ = s.Close() }()
			go func() {
				defer c.Close()
				buf := make([]byte, 32*1024)
				for {
					n, err := s.Read(buf)
					if err != nil {
						return
					}
					if !p.swallow.Load() {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			_ = c.Close()
		}
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func pgOrder(id string) history.Message {
	return history.Message{ID: id, Key: id, Amount: 10, Seq: 1, Kind: "OrderPlaced"}
}

// ---------------------------------------------------------------------------------------------
// Schemas

func TestSchemaCreateAndDrop(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	ctx := testCtx(t)
	runID := testRunID(t)
	s, err := CreateSchema(ctx, inf.PostgresURL, runID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "harness_"+runID {
		t.Fatalf("name %q, want harness_%s", s.Name, runID)
	}
	admin := realtest.AdminConn(t, inf)
	var comment string
	if err := admin.QueryRow(ctx, `SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1`, s.Name).Scan(&comment); err != nil {
		t.Fatal(err)
	}
	if want := "owned by the delivery harness, run " + runID; comment != want {
		t.Errorf("comment %q, want %q", comment, want)
	}
	rows, _ := admin.Query(ctx, `SELECT table_name::text FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, s.Name)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"business", "chain_outbox", "dedup_window", "effects", "inbox", "outbox", "processed", "relay_cursors", "relay_positions", "run", "send_buffer", "shipments", "vals", "versions"}; !slices.Equal(tables, want) {
		t.Errorf("tables %v, want %v", tables, want)
	}
	if f := pgFinal(t, s); len(f.Committed)+len(f.Effects)+len(f.Values)+len(f.Outbox) != 0 {
		t.Errorf("final of a new schema: %+v, want empty", f)
	}
	if err := s.Drop(ctx); err != nil {
		t.Fatalf("drop: %v", err)
	}
	if realtest.SchemaExists(t, admin, s.Name) {
		t.Fatalf("schema %s still exists after Drop", s.Name)
	}
	if err := s.Drop(ctx); err != nil {
		t.Errorf("second drop of a schema already gone: %v", err)
	}
}

// TestSchemaCreateRefusesExisting: a run id is never used twice: while its run lives, its
// liveness lock refuses it; after, its schema does.
func TestSchemaCreateRefusesExisting(t *testing.T) {
	inf := realtest.Database(t, realtest.Require(t)) // the dead run's schema stays until the test drops it
	t.Parallel()
	for _, tc := range []struct {
		name, want string
		live       bool
	}{
		{"live run", "liveness lock", true},
		{"dead run", "already exists", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := pgTestSchema(t, inf)
			if !tc.live {
				s.Close()
			}
			runID := strings.TrimPrefix(s.Name, SchemaPrefix)
			again, err := CreateSchema(testCtx(t), inf.PostgresURL, runID)
			if err == nil {
				again.Close()
				t.Fatal("CreateSchema of an existing schema: got no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if _, err := pgSchemaFinal(t, inf, s.Name); err != nil {
				t.Errorf("the existing schema is damaged: %v", err)
			}
		})
	}
}

// pgSchemaFinal reads a schema's final state through a Schema value of its own.
func pgSchemaFinal(t *testing.T, inf infra.Infra, name string) (history.Final, error) {
	t.Helper()
	pool, err := newConnPool(testCtx(t), inf.PostgresURL, name, 1)
	if err != nil {
		t.Fatal(err)
	}
	s := &Schema{Name: name, url: inf.PostgresURL, pool: pool}
	defer s.Close()
	return s.Final(testCtx(t))
}

func TestSchemaCreateRejectsBadRunID(t *testing.T) {
	for _, id := range []string{"", "Upper", "with-dash", "semi;colon", "quote'", strings.Repeat("a", 41)} {
		if s, err := CreateSchema(context.Background(), infra.LocalPostgresURL, id); err == nil {
			s.Close()
			t.Errorf("CreateSchema(%q): got no error", id)
		}
	}
}

func TestSchemaDropRefusesUnmarked(t *testing.T) {
	inf := realtest.Require(t)
	t.Parallel()
	for _, tc := range []struct {
		name    string
		comment string // empty: none
	}{
		{"no comment", ""},
		{"another run's marker", "owned by the delivery harness, run someone_else"},
		{"foreign comment", "the billing team's scratch space"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := testCtx(t)
			admin := realtest.AdminConn(t, inf)
			rid := testRunID(t)
			name := "harness_foreign_xyz_" + rid[len(rid)-8:]
			ident := pgx.Identifier{name}.Sanitize()
			if _, err := admin.Exec(ctx, `CREATE SCHEMA `+ident); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = admin.Exec(context.Background(), `DROP SCHEMA IF EXISTS `+ident+` CASCADE`) })
			if tc.comment != "" {
				if _, err := admin.Exec(ctx, `COMMENT ON SCHEMA `+ident+` IS `+literal(tc.comment)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := admin.Exec(ctx, `CREATE TABLE `+pgx.Identifier{name, "precious"}.Sanitize()+` (x int)`); err != nil {
				t.Fatal(err)
			}
			s := &Schema{Name: name, url: inf.PostgresURL}
			err := s.Drop(ctx)
			if err == nil || !strings.Contains(err.Error(), "marker") {
				t.Fatalf("drop of an unmarked schema: got %v, want an error about the marker", err)
			}
			if !realtest.SchemaExists(t, admin, name) {
				t.Fatalf("schema %s was dropped", name)
			}
			if _, err := admin.Exec(ctx, `DROP SCHEMA `+ident+` CASCADE`); err != nil {
				t.Fatal(err)
			}
		})
	}
}
