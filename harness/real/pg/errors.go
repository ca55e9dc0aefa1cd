package pg

// PostgreSQL's errors in the strategies' error classes, on one line and without a password.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

// wrap wraps a failed operation's error with what was being done, the strategies sentinel it
// falls under (if any) and the cause, on one line.
func wrap(what string, err error, conn *pgx.Conn) error {
	if s := sentinel(err, conn); s != nil {
		return fmt.Errorf("%s: %w: %w", what, s, redacted(err, ""))
	}
	return fmt.Errorf("%s: %w", what, redacted(err, ""))
}

// connectFailed is the error of a connection that could not be opened: ErrConnection, with the
// server's URL redacted.
func connectFailed(url string, err error) error {
	if errors.Is(err, errPoolClosed) {
		return fmt.Errorf("postgres %s: %w", redact.URL(url), err)
	}
	return fmt.Errorf("postgres %s: %w: %w", redact.URL(url), strategies.ErrConnection, redacted(err, url))
}

// sentinel classifies err: a unique violation, an aborted transaction, a lock timeout, or a
// lost connection (server unreachable, connection closed, a deadline that closed it).
func sentinel(err error, conn *pgx.Conn) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return strategies.ErrDuplicateKey
		case pgErr.Code == "25P02":
			return strategies.ErrTxAborted
		case pgErr.Code == "55P03":
			return strategies.ErrLockTimeout
		case strings.HasPrefix(pgErr.Code, "08"), pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03":
			return strategies.ErrConnection
		}
		if conn != nil && conn.IsClosed() {
			return strategies.ErrConnection
		}
		return nil
	}
	if errors.Is(err, pgx.ErrTxClosed) {
		return strategies.ErrTxAborted
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connectErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		(conn != nil && conn.IsClosed()) {
		return strategies.ErrConnection
	}
	return nil
}

// redacted returns err with its text on one line and the password of url, if any, masked.
func redacted(err error, url string) error {
	var password string
	if url != "" {
		if cfg, perr := pgconn.ParseConfig(url); perr == nil {
			password = cfg.Password
		}
	}
	return redact.Error(err, password)
}
