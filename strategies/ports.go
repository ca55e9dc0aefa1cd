// Package strategies holds the ports a delivery strategy talks to (a store transaction, a broker
// publisher with confirms, a subscription with prefetch and acks, named fault points, a clock)
// and every producer and consumer strategy of the catalogue, registered by name.
//
// Strategies are straight-line Go against these ports. They never read the wall clock, never use
// global randomness and never start goroutines: everything that varies comes through the ports,
// so the same code runs on the deterministic simulator and on real PostgreSQL and RabbitMQ.
// This package imports no backend; the backends (harness/sim, harness/real) implement the ports.
package strategies

import (
	"context"
	"time"

	"github.com/deliveryharness/harness/harness/history"
)

// Message is the business event a strategy moves: its ID is the broker's message id.
type Message = history.Message

// Store opens transactions on the service's database.
type Store interface {
	Begin(ctx context.Context) (Tx, error)
}

// Tx is one database transaction at READ COMMITTED. Each method maps to one SQL statement of the
// real adapter. After an error other than from a read, the transaction is aborted and only
// Rollback is useful, as in PostgreSQL.
type Tx interface {
	// InsertBusiness writes the producer's own state change (the order, the credit request, the
	// price change) under its primary key.
	InsertBusiness(ctx context.Context, m Message) error
	// AppendOutbox writes the event into the outbox table in this transaction.
	AppendOutbox(ctx context.Context, m Message) error
	// ClaimOutbox locks up to limit unpublished committed outbox rows, oldest first, skipping rows
	// another transaction holds (SELECT ... FOR UPDATE SKIP LOCKED).
	ClaimOutbox(ctx context.Context, limit int) ([]OutboxRow, error)
	// MarkPublished flags claimed outbox rows as published.
	MarkPublished(ctx context.Context, ids []int64) error
	// ReadOutboxAfter reads up to limit committed outbox rows whose id is greater than after, in
	// id order, published or not, without claiming or locking them: an offset relay's read. Ids
	// are taken at insert, like a sequence, so a row with a smaller id may commit after a larger
	// one was read: a relay that trusts the offset alone can skip it.
	ReadOutboxAfter(ctx context.Context, after int64, limit int) ([]OutboxRow, error)
	// RelayCursor reads the durable cursor of the named relay, the last outbox id it says it
	// published, as this transaction sees it: 0 when it was never written.
	RelayCursor(ctx context.Context, relay string) (int64, error)
	// SetRelayCursor writes the named relay's cursor in this transaction: others see it when the
	// transaction commits, never after a rollback, and it survives a crash of the relay. The
	// cursor's row stays locked to the end of the transaction; a concurrent writer waits, then
	// writes (the last commit wins); a read (RelayCursor) does not wait. A relay that reads after
	// its cursor and marks nothing published is done when its committed cursor reaches the last
	// outbox row: the backends count the rows neither marked published nor at or below a relay's
	// cursor as the work left before a run settles.
	SetRelayCursor(ctx context.Context, relay string, id int64) error
	// ReadOutboxFenced reads up to limit committed outbox rows after the position after, in
	// (transaction id, id) order, published or not, without locking them, and only rows whose
	// inserting transaction's id (OutboxRow.Tx, pg_current_xact_id() at insert) is below the
	// oldest transaction id still in progress (pg_snapshot_xmin(pg_current_snapshot())). A
	// transaction gets its id at its first write, so a row of a transaction still in progress,
	// or of one that began writing before it, is read later, never skipped: the fence of
	// watermill-sql v4's PostgreSQL offsets adapter.
	ReadOutboxFenced(ctx context.Context, after Position, limit int) ([]OutboxRow, error)
	// RelayPosition reads the durable position of the named fenced relay as this transaction
	// sees it: the zero Position when it was never written.
	RelayPosition(ctx context.Context, relay string) (Position, error)
	// SetRelayPosition writes the named fenced relay's position in this transaction, as
	// SetRelayCursor writes a cursor (locked to the end of the transaction, visible at commit,
	// durable). The backends count the committed rows neither marked published nor at or before
	// a relay's position as the work left.
	SetRelayPosition(ctx context.Context, relay string, pos Position) error

	// Apply performs the workload's effect the plain way: a new payment row, balance += amount,
	// price := amount, or (emails) a call to the mail gateway. Applying twice has two effects
	// where the workload is not idempotent. The email is sent outside the transaction: Rollback
	// does not unsend it.
	Apply(ctx context.Context, m Message) error
	// ApplyIdempotent performs the effect keyed by the event id, so that a repeat changes
	// nothing: INSERT ... ON CONFLICT DO NOTHING on the event's natural key, or (emails) the
	// gateway call with the event id as its idempotency key, which the gateway keeps.
	ApplyIdempotent(ctx context.Context, m Message) error
	// ApplyVersioned performs the effect only when m.Seq is newer than the version stored for
	// m.Key, and stores m.Seq as the key's version (an upsert whose WHERE compares versions). It
	// reports whether it applied; the key's version row stays locked to the end of the
	// transaction. For emails the version row is in the database and the email is not.
	ApplyVersioned(ctx context.Context, m Message) (bool, error)

	// InboxInsert records (consumer, message id) under a unique key. A second insert of the same
	// pair fails with ErrDuplicateKey; a concurrent one waits for the first to commit or abort.
	InboxInsert(ctx context.Context, consumer, msgID string) error
	// InboxContains reports whether the inbox holds (consumer, message id), as this transaction sees it.
	InboxContains(ctx context.Context, consumer, msgID string) (bool, error)
	// RecordProcessed appends (consumer, message id) to a processed log that has no unique key.
	RecordProcessed(ctx context.Context, consumer, msgID string) error
	// Processed reports whether the processed log holds (consumer, message id).
	Processed(ctx context.Context, consumer, msgID string) (bool, error)
	// WindowForget deletes the consumer's dedup-window records seen before before (the
	// garbage collection of a dedup window's message store) and returns how many it deleted.
	// A record another transaction is inserting or deleting is waited for, as any row lock.
	WindowForget(ctx context.Context, consumer string, before time.Time) (int, error)
	// WindowInsert records (consumer, message id) seen at at in the dedup window's store, under
	// a unique key on the pair: while a record of the pair is there (committed, or this
	// transaction's own), the insert fails with ErrDuplicateKey; a concurrent one waits for the
	// first transaction to commit or abort, as InboxInsert does.
	WindowInsert(ctx context.Context, consumer, msgID string, at time.Time) error

	// BufferPut puts m into the send buffer at time at (the producer's clock): an outbox row
	// stamped at, under a unique key on m's id. The buffer holds an id while its row is
	// unpublished or stamped less than period before at; a put of an id it holds writes nothing
	// and reports false (the repeat is dropped). Past that the id is forgotten: a put takes the
	// key again with a new row. A concurrent put of the same id waits for the first transaction to
	// commit or abort, as for any unique key.
	BufferPut(ctx context.Context, m Message, at time.Time, period time.Duration) (bool, error)
	// ClaimBuffered is ClaimOutbox for the send buffer's rows stamped at or before before.
	ClaimBuffered(ctx context.Context, before time.Time, limit int) ([]OutboxRow, error)
	// NextBuffered reads the put time of the oldest committed buffered row not yet published, as
	// this transaction sees it, locked or not; false when there is none.
	NextBuffered(ctx context.Context) (time.Time, bool, error)

	// Commit ends the transaction. Any error means the outcome is unknown to the caller: the
	// COMMIT may have reached the server (ErrUnknownOutcome is the explicit form).
	Commit(ctx context.Context) error
	// Rollback ends the transaction without its writes. It is safe after any error.
	Rollback(ctx context.Context) error
}

// OutboxRow is one claimed outbox row.
type OutboxRow struct {
	ID  int64
	Msg Message
	Tx  uint64 // the id of the transaction that inserted it; set by ReadOutboxFenced only
}

// Position is a fenced relay's place in the outbox: the transaction id and the outbox id of the
// last row it published. Rows are read in (Tx, ID) order after it.
type Position struct {
	Tx uint64
	ID int64
}

// PositionOf is the position of row r.
func PositionOf(r OutboxRow) Position { return Position{Tx: r.Tx, ID: r.ID} }

// After reports whether p comes after q in (Tx, ID) order.
func (p Position) After(q Position) bool { return p.Tx > q.Tx || p.Tx == q.Tx && p.ID > q.ID }

// ChangeLog is the database's transaction log as a logical replication slot decodes it: committed
// transactions in commit order, from the slot's confirmed position on. Reading does not move the
// slot; only Advance does, so a reader that dies between the two reads the same changes again.
type ChangeLog interface {
	// Read decodes committed transactions after the confirmed position, oldest commit first,
	// stopping at a transaction boundary after about limit changes. It returns the outbox
	// inserts among them and the position just after the last transaction decoded.
	Read(ctx context.Context, limit int) (LogBatch, error)
	// Advance confirms everything before pos: it is never decoded again. Any error means the
	// outcome is unknown, as for a COMMIT.
	Advance(ctx context.Context, pos uint64) error
}

// LogBatch is what one Read decoded.
type LogBatch struct {
	Rows []OutboxRow // outbox inserts, in commit order
	End  uint64      // the position after the last transaction read; 0 when nothing was read
}

// Publisher sends messages to the broker with publisher confirms.
type Publisher interface {
	// Publish sends m; the returned confirmation resolves when the broker has taken it. An error
	// means the message was not sent (the channel is closed; the next call reconnects).
	Publish(ctx context.Context, m Message) (Confirmation, error)
}

// Confirmation is a pending publisher confirm (amqp091's DeferredConfirmation).
type Confirmation interface {
	// Wait returns nil when the broker confirmed, ErrNacked when it refused, and ErrNoConfirm or
	// ErrChannelClosed when no confirm came: then the message may or may not be queued.
	Wait(ctx context.Context) error
}

// Delivery is one message handed to a consumer.
type Delivery struct {
	Msg         Message
	Tag         uint64
	Redelivered bool // the broker delivered it before and it was requeued
}

// Subscription is a consumer's channel: deliveries arrive up to the prefetch limit and stay
// unacknowledged until Ack or Nack; when the channel dies the broker requeues them with the
// redelivered flag set.
type Subscription interface {
	// Next waits for the next delivery. ErrIdle means nothing came within the idle wait;
	// ErrChannelClosed means the channel died (the next call reconnects).
	Next(ctx context.Context) (Delivery, error)
	// Ack acknowledges one delivery. A nil error does not prove the broker received it.
	Ack(ctx context.Context, tag uint64) error
	// Nack rejects one delivery; with requeue the broker delivers it again, flagged redelivered.
	Nack(ctx context.Context, tag uint64, requeue bool) error
}

// Faults is where a strategy names the points a crash can hit. Passing a point is a no-op unless
// the run's fault schedule kills the process there.
type Faults interface {
	Point(ctx context.Context, name string)
}

// Clock lets a strategy wait (retry backoff) and read the time (time windows). The simulator's
// clock is logical.
type Clock interface {
	Sleep(ctx context.Context, d time.Duration)
	// Now is the current time. On the simulator it is logical and deterministic: the Unix epoch
	// (UTC) plus the run's simulated milliseconds, so a run starts at 1970-01-01T00:00:00Z and
	// the same seed gives the same times; on real servers it is the wall clock. Strategies
	// compare or subtract times (a window, an age) and never rely on the absolute value.
	Now() time.Time
}

// ProducerEnv is what a producer strategy may use.
type ProducerEnv struct {
	Store     Store
	Publisher Publisher
	Faults    Faults
	Clock     Clock
}

// RelayEnv is what a relay (the outbox's background publisher, or the log tailer) may use.
type RelayEnv struct {
	Store     Store
	Log       ChangeLog // the replication slot, for producers that tail the log
	Publisher Publisher
	Faults    Faults
	Clock     Clock
	Batch     int // rows to claim per pass
}

// ConsumerEnv is what a consumer strategy may use. Group names the logical consumer (the inbox
// key's consumer part); every competing process of the group shares it.
type ConsumerEnv struct {
	Group  string
	Store  Store
	Sub    Subscription
	Faults Faults
	Clock  Clock
}

// Producer is how an event leaves the service.
type Producer interface {
	Name() string
	Doc() string
	// Points lists the fault points the strategy passes, for crash faults.
	Points() []string
	// Produce handles one client command: the business write and getting the event out.
	Produce(ctx context.Context, env ProducerEnv, m Message) error
}

// Relay is the optional capability of a producer that publishes in the background (the outbox,
// the log tailer).
type Relay interface {
	// RelayPoints lists the relay's fault points.
	RelayPoints() []string
	// RelayPass claims, publishes and marks what it finds (one batch, or more while its claims
	// come back full); it returns how many rows it marked published (or, for a relay that reads
	// by position, moved its position past).
	RelayPass(ctx context.Context, env RelayEnv) (int, error)
}

// LogTailer marks a relay that reads the transaction log (RelayEnv.Log) instead of polling the
// outbox table: the backends give it a replication slot, and count the slot's backlog, not the
// unpublished rows, as work still to do.
type LogTailer interface {
	Relay
	TailsLog()
}

// TailsLog reports whether the producer's relay reads the transaction log.
func TailsLog(p Producer) bool {
	_, ok := p.(LogTailer)
	return ok
}

// EventSourcer marks a producer whose events table is its state (event sourcing): it writes no
// business row, only its event, into the outbox table, the event store; the backends read the
// committed record (history.Final.Committed) from the committed events, in position order.
type EventSourcer interface {
	Producer
	EventSourced()
}

// EventSourced reports whether the producer's state is its events table.
func EventSourced(p Producer) bool {
	_, ok := p.(EventSourcer)
	return ok
}

// Consumer is how the effect of a delivered event is applied.
type Consumer interface {
	Name() string
	Doc() string
	Points() []string
	// Handle applies one delivery and acknowledges it, in the strategy's order.
	Handle(ctx context.Context, env ConsumerEnv, d Delivery) error
}

// Window is how long the catalogue's dedup windows remember a message id: the dedup-window
// consumer's store and the NATS stream's duplicate window. A copy that comes later than this
// slips through them; the late-redelivery fault holds a copy back longer than Window.
//
// A window must outlast every timeout and retry between a first copy and its last: on real
// servers a client waits 1 s for a COMMIT reply and for a confirm (worker.DefaultTimeouts), and
// on NATS a redelivery waits out a 500 ms ack wait, twice when two faults hit one message; 3 s
// covers those with room for a reconnect, on the simulator and on real servers alike.
const Window = 3 * time.Second
