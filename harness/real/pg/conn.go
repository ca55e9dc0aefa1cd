package pg

// Connections: the adapter's session settings and a small pool that can cut its connections as
// the exit of a process would.

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/deliveryharness/harness/harness/real/redact"
)

// parseConfig parses url into a connection config with the adapter's session settings.
func parseConfig(url, schema string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL %s: %w", redact.URL(url), redacted(err, url))
	}
	setSession(cfg, schema)
	return cfg, nil
}

// setSession sets the adapter's session settings on cfg: lock_timeout, the schema's name as
// application_name (unless schema is empty), a connect timeout when the URL sets none.
func setSession(cfg *pgx.ConnConfig, schema string) {
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = connectTimeout
	}
	cfg.RuntimeParams["lock_timeout"] = lockTimeout
	if schema != "" {
		cfg.RuntimeParams["application_name"] = schema
	}
}

// literal quotes s as an SQL string literal.
func literal(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func closeConn(c *pgx.Conn) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.Close(ctx)
}

var errPoolClosed = errors.New("postgres: connections closed")

// connPool is a pgxpool.Pool of a few connections, opened lazily, that also knows which
// connections are taken, so that close can cut them as the exit of a process would. A connection
// goes back to the pool only when it is open and idle, outside any transaction (pgxpool destroys
// any other); one idle for more than a second is pinged before it is handed out again.
type connPool struct {
	pool *pgxpool.Pool

	mu     sync.Mutex
	taken  map[*heldConn]bool
	closed bool
}

// heldConn is a connection taken from a connPool, until release.
type heldConn struct {
	conn   *pgx.Conn
	reused bool          // the connection served an earlier acquire
	pc     *pgxpool.Conn // nil once close cut the connection (or after release)
}

// reusedKey marks, in a connection's custom data, that it has been handed out before.
const reusedKey = "harness.reused"

// newConnPool makes a pool of at most size connections to url, with the adapter's session
// settings and schema as application_name. It opens no connection.
func newConnPool(ctx context.Context, url, schema string, size int32) (*connPool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL %s: %w", redact.URL(url), redacted(err, url))
	}
	setSession(cfg.ConnConfig, schema)
	cfg.MaxConns, cfg.MinConns, cfg.MinIdleConns = size, 0, 0
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres %s: %w", redact.URL(url), redacted(err, url))
	}
	return &connPool{pool: pool, taken: map[*heldConn]bool{}}, nil
}

// acquire takes a connection, waiting for a free one (until ctx ends) or opening a new one.
func (p *connPool) acquire(ctx context.Context) (*heldConn, error) {
	if p.isClosed() {
		return nil, errPoolClosed
	}
	pc, err := p.pool.Acquire(ctx)
	if err != nil {
		if p.isClosed() {
			return nil, errPoolClosed
		}
		return nil, err
	}
	conn := pc.Conn()
	data := conn.PgConn().CustomData()
	_, reused := data[reusedKey]
	data[reusedKey] = true
	h := &heldConn{conn: conn, reused: reused, pc: pc}
	p.mu.Lock()
	closed := p.closed
	if !closed {
		p.taken[h] = true
	}
	p.mu.Unlock()
	if closed {
		pc.Release()
		return nil, errPoolClosed
	}
	return h, nil
}

func (p *connPool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// release gives h back to the pool (which keeps it only if it is open and idle); a connection
// that close cut is closed instead. Only the goroutine that took h calls release, once.
func (p *connPool) release(h *heldConn) {
	p.mu.Lock()
	delete(p.taken, h)
	pc := h.pc
	h.pc = nil
	p.mu.Unlock()
	if pc != nil {
		pc.Release()
		return
	}
	closeConn(h.conn) // close cut it and took it out of the pool
}

// discard closes h's connection and gives it back, so that the pool destroys it.
func (p *connPool) discard(h *heldConn) {
	closeConn(h.conn)
	p.release(h)
}

// close closes every connection, as the exit of a process would: it takes the ones in use out of
// the pool and closes their sockets, so that the server rolls back their open transactions (their
// next statement fails with ErrConnection; Commit or Rollback then frees them), and then closes
// the pool, waiting at most poolCloseWait for its idle connections to close.
func (p *connPool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	for h := range p.taken {
		h.pc.Hijack()
		h.pc = nil
		_ = h.conn.PgConn().Conn().Close()
	}
	clear(p.taken)
	p.mu.Unlock()
	done := make(chan struct{})
	go func() {
		p.pool.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(poolCloseWait):
	}
}

// SearchPathURL returns a PostgreSQL URL whose connections use schema as their search_path: pgx
// (and database/sql through pgx's stdlib) reads an unknown query parameter as a run-time
// parameter. A service in service mode gets its URLs this way.
func SearchPathURL(raw, schema string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("postgres: bad URL %s", redact.URL(raw))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
