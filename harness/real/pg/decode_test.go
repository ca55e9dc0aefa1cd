package pg

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// pgoutput's messages (protocol version 1), written as the server writes them.

func pgoBegin(xid uint32) []byte {
	b := []byte{'B'}
	b = binary.BigEndian.AppendUint64(b, 0x10) // final LSN
	b = binary.BigEndian.AppendUint64(b, 0)    // commit time
	return binary.BigEndian.AppendUint32(b, xid)
}

func pgoCommit(end uint64) []byte {
	b := []byte{'C', 0}
	b = binary.BigEndian.AppendUint64(b, end-8) // commit LSN
	b = binary.BigEndian.AppendUint64(b, end)   // end LSN
	return binary.BigEndian.AppendUint64(b, 0)  // commit time
}

func pgoRelation(id uint32, namespace, name string, cols ...string) []byte {
	b := []byte{'R'}
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(append(b, namespace...), 0)
	b = append(append(b, name...), 0)
	b = append(b, 'd')
	b = binary.BigEndian.AppendUint16(b, uint16(len(cols)))
	for _, c := range cols {
		b = append(b, 0)
		b = append(append(b, c...), 0)
		b = binary.BigEndian.AppendUint32(b, 25) // text
		b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
	}
	return b
}

// pgoInsert writes an INSERT; a value "\x00null" is a NULL, "\x00toast" an unchanged TOASTed value.
func pgoInsert(rel uint32, vals ...string) []byte {
	b := []byte{'I'}
	b = binary.BigEndian.AppendUint32(b, rel)
	b = append(b, 'N')
	b = binary.BigEndian.AppendUint16(b, uint16(len(vals)))
	for _, v := range vals {
		switch v {
		case "\x00null":
			b = append(b, 'n')
		case "\x00toast":
			b = append(b, 'u')
		default:
			b = append(b, 't')
			b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	return b
}

var pgoOutboxCols = []string{"id", "msg_id", "key", "amount", "version", "kind", "published", "xid"}

func pgoOutboxInsert(rel uint32, id, msgID, key string) []byte {
	return pgoInsert(rel, id, msgID, key, "10", "2", "OrderPlaced", "f", "777")
}

// TestTxnDecoder: pgoutput's messages become whole transactions with the run's outbox rows, every
// column read by its name, whatever the text holds; other tables' inserts are passed; a stream that
// makes no sense is an error, never a panic.
func TestTxnDecoder(t *testing.T) {
	row := func(id int64, msgID, key string) strategies.OutboxRow {
		return strategies.OutboxRow{ID: id, Msg: history.Message{ID: msgID, Key: key, Amount: 10, Seq: 2, Kind: "OrderPlaced"}}
	}
	outbox := pgoRelation(7, "harness_r1", "outbox", pgoOutboxCols...)
	type txn struct {
		rows []strategies.OutboxRow
		end  uint64
	}
	for _, tc := range []struct {
		name string
		msgs [][]byte
		want []txn
		err  string // a part of the error; empty: no error
	}{
		{name: "one insert", msgs: [][]byte{outbox, pgoBegin(1), pgoOutboxInsert(7, "1", "order-1", "k1"), pgoCommit(0x1A0)},
			want: []txn{{[]strategies.OutboxRow{row(1, "order-1", "k1")}, 0x1A0}}},
		{name: "two transactions, the relation once", msgs: [][]byte{
			pgoBegin(1), outbox, pgoOutboxInsert(7, "2", "b", "k"), pgoOutboxInsert(7, "1", "a", "k"), pgoCommit(0x200),
			pgoBegin(2), pgoOutboxInsert(7, "3", "c", "k"), pgoCommit(1<<32 | 0x10)},
			want: []txn{{[]strategies.OutboxRow{row(2, "b", "k"), row(1, "a", "k")}, 0x200}, {[]strategies.OutboxRow{row(3, "c", "k")}, 1<<32 | 0x10}}},
		{name: "text as it is", msgs: [][]byte{outbox, pgoBegin(1),
			pgoOutboxInsert(7, "9223372036854775807", "a'b \"c\"\nnull\t\\", "ключ 🧾"), pgoCommit(0x30)},
			want: []txn{{[]strategies.OutboxRow{row(9223372036854775807, "a'b \"c\"\nnull\t\\", "ключ 🧾")}, 0x30}}},
		{name: "columns by name", msgs: [][]byte{
			pgoRelation(8, "harness_r1", "outbox", "kind", "xid", "version", "amount", "key", "msg_id", "id", "extra"),
			pgoBegin(1), pgoInsert(8, "K", "1", "3", "-4", "k", "m", "5", "\x00toast"), pgoCommit(0x40)},
			want: []txn{{[]strategies.OutboxRow{{ID: 5, Msg: history.Message{ID: "m", Key: "k", Amount: -4, Seq: 3, Kind: "K"}}}, 0x40}}},
		{name: "other tables and schemas passed", msgs: [][]byte{outbox,
			pgoRelation(9, "harness_r2", "outbox", pgoOutboxCols...), pgoRelation(10, "harness_r1", "business", "seq", "id"),
			pgoBegin(1), pgoOutboxInsert(9, "1", "elsewhere", "k"), pgoInsert(10, "1", "x"), pgoCommit(0x50),
			pgoBegin(2), pgoInsert(10, "2", "y"), pgoOutboxInsert(7, "1", "ours", "k"), pgoCommit(0x60)},
			want: []txn{{nil, 0x50}, {[]strategies.OutboxRow{row(1, "ours", "k")}, 0x60}}},
		{name: "messages it has no use for", msgs: [][]byte{{'Y', 0, 0, 0, 1}, {'O'}, outbox, pgoBegin(1), {'T', 1, 2}, pgoCommit(0x70)},
			want: []txn{{nil, 0x70}}},
		{name: "NULL", msgs: [][]byte{outbox, pgoBegin(1), pgoInsert(7, "1", "\x00null", "k", "1", "1", "x", "f", "1"), pgoCommit(0x80)},
			err: "column msg_id is null"},
		{name: "not a number", msgs: [][]byte{outbox, pgoBegin(1), pgoInsert(7, "x1", "m", "k", "1", "1", "x", "f", "1"), pgoCommit(0x80)},
			err: "column id"},
		{name: "a column missing", msgs: [][]byte{pgoRelation(7, "harness_r1", "outbox", "id", "msg_id", "key", "amount", "kind"),
			pgoBegin(1), pgoInsert(7, "1", "m", "k", "1", "x"), pgoCommit(0x80)},
			err: "no column version"},
		{name: "an insert before its relation", msgs: [][]byte{pgoBegin(1), pgoOutboxInsert(7, "1", "m", "k")}, err: "before its RelationMessage"},
		{name: "an insert outside a transaction", msgs: [][]byte{outbox, pgoOutboxInsert(7, "1", "m", "k")}, err: "outside a transaction"},
		{name: "a commit without a begin", msgs: [][]byte{pgoCommit(0x80)}, err: "without a BEGIN"},
		{name: "a begin inside a transaction", msgs: [][]byte{pgoBegin(1), pgoBegin(2)}, err: "inside an open transaction"},
		{name: "cut short", msgs: [][]byte{outbox, pgoBegin(1), pgoOutboxInsert(7, "1", "m", "k")[:20]}, err: "pgoutput 'I' message"},
		{name: "commit cut short", msgs: [][]byte{pgoBegin(1), pgoCommit(0x80)[:9]}, err: "pgoutput 'C' message"},
		{name: "empty", msgs: [][]byte{{}}, err: "empty message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newTxnDecoder("harness_r1")
			var got []txn
			var err error
			for _, m := range tc.msgs {
				var done *logTxn
				if done, err = d.decode(m); err != nil {
					break
				}
				if done != nil {
					got = append(got, txn{done.rows, done.end})
				}
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want an error with %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
