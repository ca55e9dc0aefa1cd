package amqp

// A run's queue: declared with the harness's mark, deleted afterwards.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/strategies"
)

// QueuePrefix starts the name of every queue the harness creates; a queue is named
// QueuePrefix + runID + QueueSuffix.
const (
	QueuePrefix = "harness."
	QueueSuffix = ".events"
)

// RunArgument is the queue argument that marks a queue as the harness's, with the run id as value.
const RunArgument = "x-harness-run"

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

// QueueName is the name of a run's queue.
func QueueName(runID string) string { return QueuePrefix + runID + QueueSuffix }

// validRunID reports whether runID can be part of a queue name: letters, digits, '-' and '_'.
func validRunID(runID string) bool { return runIDPattern.MatchString(runID) }

// Queue is one run's durable queue, named with the harness prefix and the run id, deleted
// afterwards. Build it with DeclareQueue: Delete refuses a Queue it cannot tie to a run id.
type Queue struct {
	Name string // QueuePrefix + runID + QueueSuffix

	url   string
	runID string

	mu      sync.Mutex
	conn    *amqp091.Connection
	deleted bool
}

// queueExpiry is the x-expires of a run's queue: the broker deletes a queue that has had no
// consumer (and no declare) for this long, so that a queue whose run was killed goes away even
// if nothing cleans up after it. A run is over long before (Backend.Deadline), and its
// consumers are subscribed all along but for the moments around a crash.
const queueExpiry = 10 * time.Minute

// DeclareQueue creates the run's queue: durable, classic, not auto-delete, marked with the
// x-harness-run argument, deleted by the broker after queueExpiry unused. It refuses when a
// queue of that name already exists, so that a run never shares (or later deletes) a queue it
// did not create.
func DeclareQueue(ctx context.Context, url, runID string) (*Queue, error) {
	if !validRunID(runID) {
		return nil, fmt.Errorf("rabbitmq: declare queue: run id %q: want 1-200 letters, digits, '-' or '_'", runID)
	}
	q := &Queue{Name: QueueName(runID), url: url, runID: runID}
	err := q.withChannel(ctx, func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
		if err == nil {
			return fmt.Errorf("rabbitmq: declare queue %s: it already exists; refusing to use a queue this run did not create", q.Name)
		}
		if !isNotFound(err) {
			return fmt.Errorf("rabbitmq: declare queue %s: passive declare: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return errNotFound
	})
	if !errors.Is(err, errNotFound) {
		_ = q.Close()
		if err == nil {
			err = fmt.Errorf("rabbitmq: declare queue %s: passive declare succeeded unexpectedly", q.Name)
		}
		return nil, err
	}
	err = q.withChannel(ctx, func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclare(q.Name, true, false, false, false, QueueArguments(runID))
		if err != nil {
			return fmt.Errorf("rabbitmq: declare queue %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if err != nil {
		_ = q.Close()
		return nil, err
	}
	return q, nil
}

// QueueArguments are the arguments a run's queue is declared with (DeclareQueue): a client that
// declares the queue again must pass the same ones.
func QueueArguments(runID string) amqp091.Table {
	return amqp091.Table{
		"x-queue-type": "classic",
		"x-expires":    queueExpiry.Milliseconds(),
		RunArgument:    runID,
	}
}

// QueueOf is the handle of run runID's queue, declared or not, for what looks after a run that
// is gone (Clean): Exists looks for the queue and Delete removes it. It refuses nothing; Delete
// still refuses a name that is not the harness's.
func QueueOf(url, runID string) *Queue {
	return &Queue{Name: QueueName(runID), url: url, runID: runID}
}

// errNotFound is the inner signal that the passive declare found no queue.
var errNotFound = errors.New("queue not found")

// withChannel runs fn on a fresh channel of the queue's connection (dialed when missing or dead),
// every broker call bounded; the channel is closed afterwards.
func (q *Queue) withChannel(ctx context.Context, fn func(ch *amqp091.Channel) error) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.conn == nil || q.conn.IsClosed() {
		conn, err := dial(ctx, q.url, "admin "+q.Name)
		if err != nil {
			return err
		}
		q.conn = conn
	}
	conn := q.conn
	var ch *amqp091.Channel
	err := bounded(ctx, conn, func() error {
		var err error
		ch, err = conn.Channel()
		return err
	})
	if err != nil {
		return fmt.Errorf("rabbitmq: open channel for %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
	}
	var inner error
	err = bounded(ctx, conn, func() error {
		inner = fn(ch)
		return nil
	})
	if err != nil {
		return fmt.Errorf("rabbitmq: queue %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
	}
	if !ch.IsClosed() {
		_ = bounded(ctx, conn, ch.Close)
	}
	return inner
}

// Depth returns the number of ready messages (queue.declare-ok's message count). Deliveries a
// consumer holds unacknowledged are not counted; with every consumer closed they are ready again.
func (q *Queue) Depth(ctx context.Context) (ready int, err error) {
	err = q.withChannel(ctx, func(ch *amqp091.Channel) error {
		st, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("rabbitmq: depth of %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		ready = st.Messages
		return nil
	})
	return ready, err
}

// Exists reports whether the queue is there (a passive declare).
func (q *Queue) Exists(ctx context.Context) (bool, error) {
	err := q.withChannel(ctx, func(ch *amqp091.Channel) error {
		_, err := ch.QueueDeclarePassive(q.Name, true, false, false, false, nil)
		if isNotFound(err) {
			return errNotFound
		}
		if err != nil {
			return fmt.Errorf("rabbitmq: look for %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Delete purges and deletes the queue. It refuses a queue whose name is not the harness prefix
// with this Queue's run id: only what DeclareQueue created can be deleted. Deleting a queue that
// is already gone is not an error.
func (q *Queue) Delete(ctx context.Context) error {
	if !validRunID(q.runID) || q.Name != QueueName(q.runID) {
		return fmt.Errorf("rabbitmq: refusing to delete queue %q: not a harness queue of this run (want %s<run id>%s)",
			q.Name, QueuePrefix, QueueSuffix)
	}
	err := q.withChannel(ctx, func(ch *amqp091.Channel) error {
		if _, err := ch.QueuePurge(q.Name, false); err != nil {
			if isNotFound(err) {
				return nil
			}
			return fmt.Errorf("rabbitmq: purge %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		if _, err := ch.QueueDelete(q.Name, false, false, false); err != nil && !isNotFound(err) {
			return fmt.Errorf("rabbitmq: delete %s: %w: %w", q.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if err == nil {
		q.mu.Lock()
		q.deleted = true
		q.mu.Unlock()
	}
	return err
}

// Deleted reports whether Delete removed the queue (or found it gone).
func (q *Queue) Deleted() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.deleted
}

// Close closes the queue's own connection; the queue stays until Delete.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	conn := q.conn
	q.conn = nil
	if err := closeConn(conn); err != nil {
		return fmt.Errorf("rabbitmq: close connection of %s: %w", q.Name, err)
	}
	return nil
}
