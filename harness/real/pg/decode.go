package pg

// pgoutput's stream: the outbox inserts a slot decodes, whole transactions, and log positions.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/deliveryharness/harness/strategies"
)

// parseLSN parses a pg_lsn ("16/B374D848") as the 64-bit position it stands for.
func parseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if ok {
		h, err1 := strconv.ParseUint(hi, 16, 32)
		l, err2 := strconv.ParseUint(lo, 16, 32)
		if err1 == nil && err2 == nil {
			return h<<32 | l, nil
		}
	}
	return 0, fmt.Errorf("bad pg_lsn %q", s)
}

// formatLSN is parseLSN's inverse.
func formatLSN(pos uint64) string { return fmt.Sprintf("%X/%X", pos>>32, uint32(pos)) }

// logTxn is one committed transaction of the stream: its inserts into the run's outbox, in log
// order, and the end of its commit record (confirming it there passes it).
type logTxn struct {
	rows []strategies.OutboxRow
	end  uint64
	came time.Time // when the reader took its commit from the stream
}

// outboxColumns are the outbox's columns a relay publishes (see CreateSchema), by name.
var outboxColumns = [...]string{"id", "msg_id", "key", "amount", "version", "kind"}

// relation is what a RelationMessage said of a table: for the run's outbox, where each of
// outboxColumns is in its tuples; for any other table, nothing (its inserts are skipped).
type relation struct {
	outbox bool
	at     [len(outboxColumns)]int
}

// txnDecoder assembles pgoutput's messages (protocol version 1) into committed transactions,
// keeping the inserts into schema's outbox. A transaction's messages come together, BEGIN to
// COMMIT, in commit order; each table's RelationMessage comes before its first change (and again
// after its definition changes), so the decoder keeps them for the connection's life.
type txnDecoder struct {
	schema    string
	relations map[uint32]relation
	open      *logTxn // between a BEGIN and its COMMIT
}

func newTxnDecoder(schema string) *txnDecoder {
	return &txnDecoder{schema: schema, relations: map[uint32]relation{}}
}

// decode takes one message of the stream (an XLogData's WAL data) and returns the transaction
// it completed, if it was a COMMIT.
func (d *txnDecoder) decode(data []byte) (done *logTxn, err error) {
	if len(data) == 0 {
		return nil, errors.New("pgoutput: empty message")
	}
	switch pglogrepl.MessageType(data[0]) {
	case pglogrepl.MessageTypeBegin, pglogrepl.MessageTypeCommit, pglogrepl.MessageTypeRelation, pglogrepl.MessageTypeInsert:
	default:
		return nil, nil // types, origins, truncates, messages: nothing a relay publishes
	}
	msg, err := parsePgoutput(data)
	if err != nil {
		return nil, fmt.Errorf("pgoutput %q message: %w", data[0], err)
	}
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		if d.open != nil {
			return nil, fmt.Errorf("pgoutput: BEGIN of xid %d inside an open transaction", m.Xid)
		}
		d.open = &logTxn{}
	case *pglogrepl.CommitMessage:
		if d.open == nil {
			return nil, fmt.Errorf("pgoutput: COMMIT at %s without a BEGIN", m.CommitLSN)
		}
		done, d.open = d.open, nil
		done.end = uint64(m.TransactionEndLSN)
		return done, nil
	case *pglogrepl.RelationMessage:
		d.relations[m.RelationID] = d.relation(m)
	case *pglogrepl.InsertMessage:
		if d.open == nil {
			return nil, errors.New("pgoutput: INSERT outside a transaction")
		}
		rel, ok := d.relations[m.RelationID]
		switch {
		case !ok:
			return nil, fmt.Errorf("pgoutput: INSERT into relation %d before its RelationMessage", m.RelationID)
		case !rel.outbox:
			return nil, nil
		}
		row, err := outboxRow(rel, m.Tuple)
		if err != nil {
			return nil, fmt.Errorf("outbox insert: %w", err)
		}
		d.open.rows = append(d.open.rows, row)
	}
	return nil, nil
}

// relation reads where the outbox's columns are, when m is the run's outbox.
func (d *txnDecoder) relation(m *pglogrepl.RelationMessage) relation {
	var r relation
	if m.Namespace != d.schema || m.RelationName != "outbox" {
		return r
	}
	r.outbox = true
	for i := range r.at {
		r.at[i] = -1
	}
	for j, c := range m.Columns {
		for i, name := range outboxColumns {
			if c.Name == name {
				r.at[i] = j
			}
		}
	}
	return r
}

// parsePgoutput is pglogrepl.Parse, with its panics on a message cut short (it indexes without
// checking lengths) turned into errors.
func parsePgoutput(data []byte) (m pglogrepl.Message, err error) {
	defer func() {
		if p := recover(); p != nil {
			m, err = nil, fmt.Errorf("malformed: %v", p)
		}
	}()
	return pglogrepl.Parse(data)
}

// outboxRow turns an outbox insert's tuple (columns in text format) into the row a relay
// publishes.
func outboxRow(rel relation, tuple *pglogrepl.TupleData) (strategies.OutboxRow, error) {
	var vals [len(outboxColumns)]string
	var errs []error
	for i, name := range outboxColumns {
		j := rel.at[i]
		switch {
		case j < 0:
			errs = append(errs, fmt.Errorf("no column %s", name))
			continue
		case tuple == nil || j >= len(tuple.Columns):
			errs = append(errs, fmt.Errorf("column %s missing from the tuple", name))
			continue
		}
		switch c := tuple.Columns[j]; c.DataType {
		case pglogrepl.TupleDataTypeText:
			vals[i] = string(c.Data)
		case pglogrepl.TupleDataTypeNull:
			errs = append(errs, fmt.Errorf("column %s is null", name))
		default:
			errs = append(errs, fmt.Errorf("column %s: data of kind %q, want text", name, c.DataType))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return strategies.OutboxRow{}, err
	}
	num := func(i int) int64 {
		n, err := strconv.ParseInt(vals[i], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("column %s: %w", outboxColumns[i], err))
		}
		return n
	}
	var r strategies.OutboxRow
	r.ID = num(0)
	r.Msg.ID, r.Msg.Key = vals[1], vals[2]
	r.Msg.Amount = num(3)
	r.Msg.Seq = num(4)
	r.Msg.Kind = vals[5]
	if err := errors.Join(errs...); err != nil {
		return strategies.OutboxRow{}, err
	}
	return r, nil
}
