package strategies

import "errors"

// Errors a port returns, classified the way pgx classifies its own: by what the caller can know.
// Backends wrap them with context; callers test with errors.Is.
var (
	// ErrDuplicateKey: a unique key already holds the value (SQLSTATE 23505). The transaction is aborted.
	ErrDuplicateKey = errors.New("strategies: duplicate key")
	// ErrUnknownOutcome: a COMMIT was sent but no reply came. It may have committed.
	ErrUnknownOutcome = errors.New("strategies: commit outcome unknown")
	// ErrConnection: the operation could not reach the server; it did not take effect, and any
	// open transaction on that connection is lost.
	ErrConnection = errors.New("strategies: connection lost")
	// ErrLockTimeout: a lock wait passed its deadline. The transaction is aborted.
	ErrLockTimeout = errors.New("strategies: lock wait timeout")
	// ErrTxAborted: a statement ran in a transaction that an earlier error aborted.
	ErrTxAborted = errors.New("strategies: transaction is aborted")

	// ErrChannelClosed: the broker channel is gone; unacked deliveries are requeued by the broker.
	ErrChannelClosed = errors.New("strategies: broker channel closed")
	// ErrNoConfirm: the confirm did not come before the deadline; the message may be queued.
	ErrNoConfirm = errors.New("strategies: no publisher confirm")
	// ErrNacked: the broker refused the message.
	ErrNacked = errors.New("strategies: publish nacked")
	// ErrIdle: no delivery arrived within the subscription's idle wait.
	ErrIdle = errors.New("strategies: no delivery")
)
