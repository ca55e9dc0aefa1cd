package pg

// The tailer's reader of a run's slot: strategies.ChangeLog over the replication protocol.

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

const (
	// readWait is how long a Read waits for a transaction when it has none in hand: the
	// stream brings each commit as it happens, so a tailer that waits here publishes it at
	// once, whatever its poll.
	readWait = 50 * time.Millisecond
	// readPeek is how long a Read that has transactions in hand waits for more where it cannot
	// look at the socket (peekSocket) instead: it takes what is there already, and finds a
	// connection that ended (a cut link's end is already there).
	readPeek = 100 * time.Microsecond
	// messageWait bounds the wait for the rest of a message whose start has come.
	messageWait = time.Second
	// pendingMax bounds the rows the reader holds unconfirmed: past it, it stops reading the
	// stream (the server waits) until the tailer advances.
	pendingMax = 1 << 14
	// gatherWait is how long a Read holds a transaction that came alone, while the stream is
	// busy, for the next one to go in the same pass: a pass's publish, status update and look
	// at the slot are paid once for both. It returns as soon as the next one has come. The
	// stream counts as busy when the transaction came within gatherWait of the one before it,
	// so a quiet stream's transactions go at once. At 500 events/s (one every 2 ms) the passes
	// carry two each; a wait of 3 ms paired fewer of them (jitter makes the stream look quiet)
	// and had no lower lag.
	gatherWait = 5 * time.Millisecond
	// replyWait bounds Advance's wait for the keepalive that answers its status update, before
	// each look at the slot's confirmed position.
	replyWait = 2 * time.Millisecond
)

// sockState is what peekSocket found in a socket.
type sockState int

const (
	sockUnknown sockState = iota // it could not look
	sockEmpty                    // nothing to read yet
	sockData                     // bytes to read
	sockEnded                    // the peer's end: reading gives the error
)

// slotPositionSQL is the slot's confirmed position: what a new stream starts from.
const slotPositionSQL = `SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1`

// LogReader is a strategies.ChangeLog on a run's slot, for the tailer. It holds two connections,
// opened on the first Read and again after one is lost, both through whatever proxy the URL names
// and with the schema's name as application_name: a replication connection
// (replication=database) that streams the slot with pgoutput (START_REPLICATION, filtered by the
// run's publication), and an ordinary one on which Advance watches the slot's confirmed position.
//
// The stream starts at the slot's confirmed position. The reader keeps the transactions it has
// received and not yet confirmed; Read hands them out from the oldest, as often as asked, and
// Advance confirms them with a standby status update. A lost connection loses only that memory:
// the next stream starts again where the slot was confirmed, so whatever was read and not
// confirmed comes again (a tailer that dies between publishing and advancing publishes it
// again). The server's keepalives are answered while Read or Advance runs: a tailer that calls
// neither for the server's wal_sender_timeout (60 s by default) loses the stream, and its next
// Read opens a new one.
//
// Read, Advance and Close are called from one goroutine.
type LogReader struct {
	slot   string
	schema string
	url    string
	repl   *pgconn.Config  // the stream's
	check  *pgx.ConnConfig // Advance's
	args   []string        // pgoutput's options
	closed bool

	stream *pgconn.PgConn // nil until connected, and after a loss
	db     *pgx.Conn
	dec    *txnDecoder
	// pending are the committed transactions received and not confirmed, in commit order.
	pending []*logTxn
	rows    int // in pending
	// last is when the stream's latest transaction with rows came, and busy whether it came
	// within gatherWait of the one before it.
	last time.Time
	busy bool
	// takeOnly makes pump take only what has come already, whatever it holds.
	takeOnly bool
	// sent is the furthest position this stream has confirmed (the slot's confirmed position
	// when it started): a status update never goes back.
	sent uint64
	// keepalives counts the server's keepalive messages: Advance waits for the one that
	// answers its status update.
	keepalives int
	// hold, when set, replaces the gather rule (SetHold).
	hold time.Duration
}

// SetHold makes Read keep the oldest transaction in hand for up to d after it came (within the
// Read's context), while the batch holds fewer rows than asked, so that what comes meanwhile goes in
// the same pass: fewer and larger passes, each paying one publish round, one status update and
// one look at the slot, for up to d more lag per event. Zero, the default, is Read's gather rule,
// which holds a transaction only for the next one on a busy stream. Call it before the first
// Read.
func (l *LogReader) SetHold(d time.Duration) { l.hold = max(0, d) }

// NewLogReader returns the tailer's reader of slot, with the publication of the same name, for
// the outbox of schema. It does not connect.
func NewLogReader(_ context.Context, url, schema, slot string) (*LogReader, error) {
	if err := checkSlotName(slot); err != nil {
		return nil, err
	}
	repl, err := pgconn.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: bad URL %s: %w", redact.URL(url), redacted(err, url))
	}
	if repl.ConnectTimeout == 0 {
		repl.ConnectTimeout = connectTimeout
	}
	repl.RuntimeParams["replication"] = "database"
	repl.RuntimeParams["application_name"] = schema
	check, err := parseConfig(url, schema)
	if err != nil {
		return nil, err
	}
	return &LogReader{slot: slot, schema: schema, url: url, repl: repl, check: check,
		args: []string{"proto_version '" + pgoutputProto + "'", "publication_names " + literal(slot)}}, nil
}

// Close closes the reader's connections (the server's walsender ends with its).
func (l *LogReader) Close() {
	l.closed = true
	l.lose()
}

// lose closes the connections and forgets what they brought.
func (l *LogReader) lose() {
	if l.stream != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = l.stream.Close(ctx)
		cancel()
	}
	if l.db != nil {
		closeConn(l.db)
	}
	l.stream, l.db, l.dec, l.pending, l.rows, l.sent, l.busy = nil, nil, nil, nil, 0, 0, false
}

// connect opens both connections and starts the stream at the slot's confirmed position. A slot
// that another backend still holds (the walsender of a tailer that died a moment ago) is waited
// for, for at most slotBusyWait.
func (l *LogReader) connect(ctx context.Context) error {
	if l.closed {
		return connectFailed(l.url, errPoolClosed)
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	db, err := pgx.ConnectConfig(ctx, l.check)
	if err != nil {
		return connectFailed(l.url, err)
	}
	what := "postgres: stream slot " + l.slot
	deadline := time.Now().Add(slotBusyWait)
	var stream *pgconn.PgConn
	for {
		stream, err = pgconn.ConnectConfig(ctx, l.repl)
		if err != nil {
			closeConn(db)
			return connectFailed(l.url, err)
		}
		err = pglogrepl.StartReplication(ctx, stream, l.slot, 0,
			pglogrepl.StartReplicationOptions{Mode: pglogrepl.LogicalReplication, PluginArgs: l.args})
		if err == nil {
			break
		}
		_ = stream.Close(ctx)
		if !SlotBusy(err) || time.Now().After(deadline) || ctx.Err() != nil {
			closeConn(db)
			return wrap(what, err, nil)
		}
		select {
		case <-ctx.Done():
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The slot is this stream's now: its position moves only by it.
	pos, err := slotPosition(ctx, db, l.slot)
	if err != nil {
		_ = stream.Close(ctx)
		closeConn(db)
		return fmt.Errorf("%s: %w", what, err)
	}
	l.stream, l.db, l.dec, l.sent = stream, db, newTxnDecoder(l.schema), pos
	return nil
}

// slotPosition reads the slot's confirmed position on db.
func slotPosition(ctx context.Context, db *pgx.Conn, slot string) (uint64, error) {
	var lsn *string
	err := db.QueryRow(ctx, slotPositionSQL, slot).Scan(&lsn)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, fmt.Errorf("the slot does not exist")
	case err != nil:
		return 0, wrap("read the slot's position", err, db)
	case lsn == nil:
		return 0, fmt.Errorf("the slot has no confirmed position")
	}
	return parseLSN(*lsn)
}

// Read implements strategies.ChangeLog: the transactions received and not confirmed, oldest
// first, whole, until they hold limit rows or more; End is the end of the last one's commit
// record (advancing to it confirms it). With none in hand it waits for the stream, at most
// readWait (and within ctx), and returns as soon as a transaction has come, or, when that one
// came alone on a busy stream, as soon as the next has come, at most gatherWait after the first
// (within readWait and ctx); with a hold (SetHold), it waits instead until the hold has passed
// since the oldest came or limit rows are in hand. The stream holds only transactions with
// inserts into the run's outbox (the publication filters the rest, and the server skips
// transactions left empty), so a tailer sees End > 0 only with rows, and one with nothing to
// publish stays idle however busy the database is. Transactions without outbox rows that come anyway (an older server sends
// them empty) are confirmed here, unrecorded, when nothing before them is unconfirmed. A lost
// connection is ErrConnection: the next Read opens a new one.
func (l *LogReader) Read(ctx context.Context, limit int) (strategies.LogBatch, error) {
	if l.stream == nil {
		if err := l.connect(ctx); err != nil {
			return strategies.LogBatch{}, err
		}
	}
	deadline := time.Now().Add(readWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	sock := l.stream.Conn()
	stop := context.AfterFunc(ctx, func() { _ = sock.SetReadDeadline(time.Now()) })
	defer stop()
	for {
		if err := l.pump(ctx, deadline, nil); err != nil {
			return strategies.LogBatch{}, l.failed("postgres: read slot "+l.slot, err)
		}
		var err error
		if l.hold > 0 {
			err = l.holdOldest(ctx, limit)
		} else {
			err = l.gather(ctx, deadline, limit)
		}
		if err != nil {
			return strategies.LogBatch{}, l.failed("postgres: read slot "+l.slot, err)
		}
		b, err := l.batch(max(1, limit))
		if err != nil {
			return strategies.LogBatch{}, l.failed("postgres: read slot "+l.slot, err)
		}
		if b.End > 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			return b, nil
		}
	}
}

// gather waits, when the one transaction in hand came on a busy stream and holds fewer than
// limit rows, for the next one, until gatherWait after the first came (and at most until
// deadline), then takes whatever else has come with it.
func (l *LogReader) gather(ctx context.Context, deadline time.Time, limit int) error {
	if len(l.pending) != 1 || !l.busy || l.rows >= limit {
		return nil
	}
	until := l.last.Add(gatherWait)
	if until.After(deadline) {
		until = deadline
	}
	if !time.Now().Before(until) {
		return nil
	}
	if err := l.pump(ctx, until, func() bool { return len(l.pending) > 1 || l.rows >= limit }); err != nil {
		return err
	}
	return l.pump(ctx, deadline, nil)
}

// holdOldest waits, while the transactions in hand hold fewer than limit rows, until hold after
// the oldest came (within ctx), taking what comes meanwhile.
func (l *LogReader) holdOldest(ctx context.Context, limit int) error {
	if len(l.pending) == 0 || l.rows >= limit {
		return nil
	}
	until := l.pending[0].came.Add(l.hold)
	if !time.Now().Before(until) {
		return nil
	}
	return l.pump(ctx, until, func() bool { return l.rows >= limit })
}

// batch is the start of pending that Read hands out. Transactions without rows at its start are
// confirmed and dropped instead.
func (l *LogReader) batch(limit int) (strategies.LogBatch, error) {
	var b strategies.LogBatch
	for _, t := range l.pending {
		b.Rows = append(b.Rows, t.rows...)
		b.End = t.end
		if len(b.Rows) >= limit {
			break
		}
	}
	if b.End > 0 && len(b.Rows) == 0 {
		l.confirmed(b.End)
		return strategies.LogBatch{}, l.status(b.End, false)
	}
	return b, nil
}

// confirmed drops the pending transactions that end at or before pos.
func (l *LogReader) confirmed(pos uint64) {
	i := 0
	for i < len(l.pending) && l.pending[i].end <= pos {
		l.rows -= len(l.pending[i].rows)
		i++
	}
	l.pending = l.pending[i:]
}

// pump takes the stream's messages until deadline, or, once it holds a transaction, until the
// socket holds nothing more; with until, until that holds instead. A timeout is not an error.
func (l *LogReader) pump(ctx context.Context, deadline time.Time, until func() bool) error {
	conn := l.stream
	for {
		if ctx.Err() != nil || until != nil && until() {
			return nil
		}
		if l.rows >= pendingMax {
			return nil
		}
		d, now := deadline, time.Now()
		more := conn.Frontend().ReadBufferLen() > 0
		if !more && (l.takeOnly || until == nil && len(l.pending) > 0) {
			// Transactions in hand: take only what has come already, and whether the
			// connection has ended.
			switch peekSocket(conn.Conn()) {
			case sockEmpty:
				return nil
			case sockData, sockEnded:
				more = true
			default:
				if peek := now.Add(readPeek); peek.Before(d) {
					d = peek
				}
			}
		}
		if rest := now.Add(messageWait); more && rest.After(d) {
			d = rest // the rest of what has come
		}
		if err := conn.Conn().SetReadDeadline(d); err != nil {
			return err
		}
		msg, err := conn.ReceiveMessage(context.Background())
		if pgconn.Timeout(err) {
			return nil
		}
		if err != nil {
			return err
		}
		switch m := msg.(type) {
		case *pgproto3.CopyData:
			if err := l.handle(m.Data); err != nil {
				return err
			}
		case *pgproto3.ErrorResponse:
			return pgconn.ErrorResponseToPgError(m)
		case *pgproto3.CopyDone:
			return errors.New("the server ended the stream")
		}
	}
}

// handle takes one message of the stream: a keepalive is answered when the server asks, and
// when the reader holds nothing unconfirmed it confirms the server's position (what the server
// has decoded since holds no outbox rows: the slot keeps no WAL for them); WAL data is decoded.
func (l *LogReader) handle(data []byte) error {
	if len(data) == 0 {
		return badStream{errors.New("empty replication message")}
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		k, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return badStream{err}
		}
		l.keepalives++
		pos := l.sent
		if len(l.pending) == 0 && l.dec.open == nil {
			pos = max(pos, uint64(k.ServerWALEnd))
		}
		if pos > l.sent || k.ReplyRequested {
			return l.status(pos, false)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return badStream{err}
		}
		t, err := l.dec.decode(x.WALData)
		switch {
		case err != nil:
			return badStream{err}
		case t == nil || t.end <= l.sent: // not a commit, or one confirmed already
		case len(t.rows) == 0 && len(l.pending) == 0:
			return l.status(t.end, false)
		default:
			t.came = time.Now()
			if len(t.rows) > 0 {
				l.busy = t.came.Sub(l.last) < gatherWait
				l.last = t.came
			}
			l.pending = append(l.pending, t)
			l.rows += len(t.rows)
		}
	}
	return nil
}

// status sends a standby status update that confirms pos (or what was confirmed before, if that
// is further); with reply, it asks the server for a keepalive once it has taken it.
func (l *LogReader) status(pos uint64, reply bool) error {
	pos = max(pos, l.sent)
	if err := l.stream.Conn().SetWriteDeadline(time.Now().Add(statementTimeout)); err != nil {
		return err
	}
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), l.stream,
		pglogrepl.StandbyStatusUpdate{WALWritePosition: pglogrepl.LSN(pos), ReplyRequested: reply})
	if err != nil {
		return err
	}
	l.sent = pos
	return nil
}

// badStream is a stream the reader cannot make sense of.
type badStream struct{ err error }

func (e badStream) Error() string { return e.err.Error() }
func (e badStream) Unwrap() error { return e.err }

// failed closes the connections after err and returns it wrapped: ErrConnection, unless the
// server refused (a PostgreSQL error of no connection class) or the stream made no sense.
func (l *LogReader) failed(what string, err error) error {
	l.lose()
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, new(badStream)):
		return fmt.Errorf("%s: %w", what, redacted(err, l.url))
	case errors.As(err, &pgErr):
		return wrap(what, err, nil)
	}
	return fmt.Errorf("%s: %w: %w", what, strategies.ErrConnection, redacted(err, l.url))
}

// Advance implements strategies.ChangeLog: a standby status update that confirms pos (or the
// position confirmed before, if that is further: a slot never goes back), then a look at the
// slot's confirmed position on the other connection. The walsender takes the update from its
// socket while the look's statement is on its way, so the look mostly shows pos at once; when it
// does not, Advance sends the update again asking for a reply and, once the server's keepalive
// says it has taken it, looks again, until the look shows pos. What the stream brought before
// that update is taken first, so that a keepalive that left before it is not taken for the
// answer. The look is the round trip whose reply a fault can withhold, as for a COMMIT. The
// transactions before pos are forgotten. Without a connection nothing is sent: ErrConnection.
// With one, a lost connection, a refusal or a position that did not show within ctx (at most
// 5 s) wraps ErrUnknownOutcome: the slot may have moved. Both connections are closed then, so
// that the next Read starts from wherever the slot is.
func (l *LogReader) Advance(ctx context.Context, pos uint64) error {
	what := fmt.Sprintf("postgres: advance slot %s to %s", l.slot, formatLSN(pos))
	if l.stream == nil {
		return fmt.Errorf("%s: not connected, nothing sent: %w", what, strategies.ErrConnection)
	}
	ctx, cancel := context.WithTimeout(ctx, statementTimeout)
	defer cancel()
	sock := l.stream.Conn()
	stop := context.AfterFunc(ctx, func() { _ = sock.SetReadDeadline(time.Now()) })
	defer stop()
	target := max(pos, l.sent)
	l.confirmed(target)
	err := l.status(target, false)
	if err == nil {
		var at uint64
		if at, err = slotPosition(ctx, l.db, l.slot); err == nil && at >= target {
			return nil
		}
	}
	if err == nil {
		// The look came first. A keepalive that came before the update cannot answer it: take
		// what has come, then ask for one.
		l.takeOnly = true
		err = l.pump(ctx, time.Now().Add(replyWait), nil)
		l.takeOnly = false
	}
	if err == nil {
		err = l.status(target, true)
	}
	for err == nil {
		// A keepalive that left before the update came is answered by the next look.
		seen := l.keepalives
		if err = l.pump(ctx, time.Now().Add(replyWait), func() bool { return l.keepalives > seen }); err != nil {
			break
		}
		var at uint64
		if at, err = slotPosition(ctx, l.db, l.slot); err == nil && at >= target {
			return nil
		}
		if err == nil && ctx.Err() != nil {
			err = fmt.Errorf("the slot's position is %s: %w", formatLSN(at), ctx.Err())
		}
	}
	l.lose()
	return fmt.Errorf("%s: %w: %w", what, strategies.ErrUnknownOutcome, redacted(err, l.url))
}
