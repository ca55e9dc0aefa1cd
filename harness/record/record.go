// Package record wraps the strategy ports so that every call a strategy makes lands in the
// History with what its caller knows of the outcome: ok, failed, or unknown (a COMMIT or a
// publish whose answer never came). Recording is not the strategies' job and not the backends':
// both backends put these wrappers between a strategy and their own port implementations, so a
// history reads the same whichever backend produced it. What an event is about is in its fields
// (the message, or the messages a transaction of several touched; the redelivered flag; the
// defence that recognised a copy); its detail says it again in words for a person.
package record

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// Log receives events. Now is the backend's clock: simulated ticks or elapsed real time.
type Log interface {
	Now() int64
	Add(e history.Event)
}

// outcome classifies an error the way the caller can: nil is ok; an unanswered commit or
// confirm is unknown; anything else failed.
func outcome(err error) history.Outcome {
	switch {
	case err == nil:
		return history.OK
	case errors.Is(err, strategies.ErrUnknownOutcome), errors.Is(err, strategies.ErrNoConfirm):
		return history.Unknown
	default:
		return history.Fail
	}
}

func detail(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

type recorder struct {
	log  Log
	proc string
}

// The recording half of a wrapper is a function of its own that is never inlined (add, and the
// record... methods below): a wrapper's frame stays on the stack while its inner call runs, and a
// history.Event is large. The simulator runs each process as a coroutine whose stack grows by
// copying, so a wrapper holding an Event in its frame makes every run of it slower.

//go:noinline
func (r recorder) add(op, msg, key string, out history.Outcome, d string) {
	r.addEvent(history.Event{Op: op, Outcome: out, Msg: msg, Key: key, Detail: d})
}

// addEvent records e as the recorder's process, now.
func (r recorder) addEvent(e history.Event) {
	e.Time, e.Proc = r.log.Now(), r.proc
	r.log.Add(e)
}

// Store wraps a store so that the transactions it opens are recorded as proc.
func Store(s strategies.Store, log Log, proc string) strategies.Store {
	return &store{inner: s, r: recorder{log, proc}}
}

type store struct {
	inner strategies.Store
	r     recorder
}

func (s *store) Begin(ctx context.Context) (strategies.Tx, error) {
	tx, err := s.inner.Begin(ctx)
	if err != nil {
		s.r.add(history.OpBegin, "", "", history.Fail, detail(err))
		return nil, err
	}
	if h, ok := tx.(SlotHolder); ok {
		if sl := h.RecordSlot(); sl != nil {
			t := &sl.t
			*t = recTx{inner: tx, r: s.r, msgs: t.msgs[:0]}
			return t, nil
		}
	}
	return &recTx{inner: tx, r: s.r}, nil
}

// TxSlot is room for the recording wrapper of one transaction. A backend that keeps its
// transactions' memory itself (the simulator hands its transactions out again after a run) lets
// its transactions implement SlotHolder, so that the wrapper is made in that memory, not on its
// own. A slot holds one transaction's wrapper at a time: the wrapper lives as long as the
// transaction it wraps.
type TxSlot struct{ t recTx }

// Reset empties the slot for another transaction, keeping the room it took.
func (s *TxSlot) Reset() {
	clear(s.t.msgs)
	s.t = recTx{msgs: s.t.msgs[:0]}
}

// SlotHolder is a transaction that carries the room for its own recording wrapper.
type SlotHolder interface {
	RecordSlot() *TxSlot
}

// recTx records statements. Begin and empty claims are not recorded (an idle relay would fill the
// history with them); a rollback is recorded only when the transaction did something.
type recTx struct {
	inner strategies.Tx
	r     recorder
	msgs  []string
}

func (t *recTx) touch(id string) {
	for _, m := range t.msgs {
		if m == id {
			return
		}
	}
	t.msgs = append(t.msgs, id)
}

// subject is what a commit, rollback or mark is about: the one message touched (Msg), or the
// messages touched (Msgs) and their ids listed in its detail.
func (t *recTx) subject() history.Event {
	switch len(t.msgs) {
	case 0:
		return history.Event{}
	case 1:
		return history.Event{Msg: t.msgs[0]}
	default:
		return history.Event{Msgs: slices.Clone(t.msgs), Detail: strings.Join(t.msgs, " ")}
	}
}

func (t *recTx) stmt(op string, m strategies.Message, err error) error {
	t.touch(m.ID)
	t.r.add(op, m.ID, m.Key, outcome(err), detail(err))
	return err
}

func (t *recTx) InsertBusiness(ctx context.Context, m strategies.Message) error {
	return t.stmt(history.OpInsert, m, t.inner.InsertBusiness(ctx, m))
}

func (t *recTx) AppendOutbox(ctx context.Context, m strategies.Message) error {
	return t.stmt(history.OpOutbox, m, t.inner.AppendOutbox(ctx, m))
}

func (t *recTx) ClaimOutbox(ctx context.Context, limit int) ([]strategies.OutboxRow, error) {
	rows, err := t.inner.ClaimOutbox(ctx, limit)
	if err != nil {
		t.r.add(history.OpClaim, "", "", history.Fail, detail(err))
		return rows, err
	}
	for _, row := range rows {
		t.touch(row.Msg.ID)
		t.r.add(history.OpClaim, row.Msg.ID, row.Msg.Key, history.OK, "")
	}
	return rows, nil
}

// ReadOutboxAfter records each row read as a read by the relay, as a log tailer's decoded rows
// are: an offset relay reads without a claim. A read that found nothing is not recorded.
func (t *recTx) ReadOutboxAfter(ctx context.Context, after int64, limit int) ([]strategies.OutboxRow, error) {
	rows, err := t.inner.ReadOutboxAfter(ctx, after, limit)
	if err != nil {
		t.r.add(history.OpRead, "", "", history.Fail, detail(err))
		return rows, err
	}
	for _, row := range rows {
		t.touch(row.Msg.ID)
		t.r.add(history.OpRead, row.Msg.ID, row.Msg.Key, history.OK, "")
	}
	return rows, nil
}

// ReadOutboxFenced records each row read as a read by the relay, as ReadOutboxAfter does, with
// the row's transaction id in its detail. A read that found nothing is not recorded.
func (t *recTx) ReadOutboxFenced(ctx context.Context, after strategies.Position, limit int) ([]strategies.OutboxRow, error) {
	rows, err := t.inner.ReadOutboxFenced(ctx, after, limit)
	if err != nil {
		t.r.add(history.OpRead, "", "", history.Fail, detail(err))
		return rows, err
	}
	for _, row := range rows {
		t.touch(row.Msg.ID)
		t.r.add(history.OpRead, row.Msg.ID, row.Msg.Key, history.OK, fmt.Sprintf("outbox id %d of transaction %d", row.ID, row.Tx))
	}
	return rows, nil
}

// RelayPosition is not recorded: it is about no message.
func (t *recTx) RelayPosition(ctx context.Context, relay string) (strategies.Position, error) {
	return t.inner.RelayPosition(ctx, relay)
}

// SetRelayPosition is not recorded: the commit that follows says whether it took effect.
func (t *recTx) SetRelayPosition(ctx context.Context, relay string, pos strategies.Position) error {
	return t.inner.SetRelayPosition(ctx, relay, pos)
}

// RelayCursor is not recorded: it is about no message.
func (t *recTx) RelayCursor(ctx context.Context, relay string) (int64, error) {
	return t.inner.RelayCursor(ctx, relay)
}

// SetRelayCursor is not recorded: the commit that follows says whether it took effect.
func (t *recTx) SetRelayCursor(ctx context.Context, relay string, id int64) error {
	return t.inner.SetRelayCursor(ctx, relay, id)
}

func (t *recTx) MarkPublished(ctx context.Context, ids []int64) error {
	err := t.inner.MarkPublished(ctx, ids)
	t.recordMark(err)
	return err
}

//go:noinline
func (t *recTx) recordMark(err error) {
	e := t.subject()
	if err != nil {
		e.Detail = detail(err)
	}
	e.Op, e.Outcome = history.OpMark, outcome(err)
	t.r.addEvent(e)
}

func (t *recTx) Apply(ctx context.Context, m strategies.Message) error {
	return t.stmt(history.OpApply, m, t.inner.Apply(ctx, m))
}

func (t *recTx) ApplyIdempotent(ctx context.Context, m strategies.Message) error {
	err := t.inner.ApplyIdempotent(ctx, m)
	t.touch(m.ID)
	d := "idempotent"
	if err != nil {
		d = detail(err)
	}
	t.r.add(history.OpApply, m.ID, m.Key, outcome(err), d)
	return err
}

func (t *recTx) ApplyVersioned(ctx context.Context, m strategies.Message) (bool, error) {
	applied, err := t.inner.ApplyVersioned(ctx, m)
	t.recordVersioned(m, applied, err)
	return applied, err
}

//go:noinline
func (t *recTx) recordVersioned(m strategies.Message, applied bool, err error) {
	t.touch(m.ID)
	e := history.Event{Op: history.OpApply, Outcome: outcome(err), Msg: m.ID, Key: m.Key, Detail: fmt.Sprintf("versioned: seq %d applied", m.Seq)}
	if err != nil {
		e.Detail = detail(err)
	} else if !applied {
		e.Detail, e.Guard = fmt.Sprintf("versioned: seq %d not newer, skipped", m.Seq), history.GuardVersion
	}
	t.r.addEvent(e)
}

// InboxInsert records the insert; one refused on the key is the inbox recognising a copy, its
// defence (history.GuardInbox), as a lookup that found the message is.
func (t *recTx) InboxInsert(ctx context.Context, consumer, msgID string) error {
	err := t.inner.InboxInsert(ctx, consumer, msgID)
	t.touch(msgID)
	e := history.Event{Op: history.OpInbox, Outcome: outcome(err), Msg: msgID}
	if err != nil {
		e.Detail = detail(err)
	}
	if errors.Is(err, strategies.ErrDuplicateKey) {
		e.Guard = history.GuardInbox
	}
	t.r.addEvent(e)
	return err
}

// check records a lookup in what (the inbox or the processed log); guard is the defence a
// lookup that found the message stands for.
//
//go:noinline
func (t *recTx) check(msgID, what string, guard history.Guard, seen bool, err error) {
	t.touch(msgID)
	e := history.Event{Op: history.OpCheck, Outcome: outcome(err), Msg: msgID, Detail: what + ": not seen"}
	if seen {
		e.Detail, e.Guard = what+": seen", guard
	}
	if err != nil {
		e.Detail, e.Guard = detail(err), ""
	}
	t.r.addEvent(e)
}

func (t *recTx) InboxContains(ctx context.Context, consumer, msgID string) (bool, error) {
	seen, err := t.inner.InboxContains(ctx, consumer, msgID)
	t.check(msgID, "inbox", history.GuardInbox, seen, err)
	return seen, err
}

func (t *recTx) RecordProcessed(ctx context.Context, consumer, msgID string) error {
	err := t.inner.RecordProcessed(ctx, consumer, msgID)
	t.touch(msgID)
	t.r.add(history.OpRecord, msgID, "", outcome(err), detail(err))
	return err
}

func (t *recTx) Processed(ctx context.Context, consumer, msgID string) (bool, error) {
	seen, err := t.inner.Processed(ctx, consumer, msgID)
	t.check(msgID, "processed log", history.GuardLog, seen, err)
	return seen, err
}

func (t *recTx) Commit(ctx context.Context) error {
	err := t.inner.Commit(ctx)
	t.recordCommit(err)
	return err
}

//go:noinline
func (t *recTx) recordCommit(err error) {
	e := t.subject()
	e.Op, e.Outcome = history.OpCommit, history.OK
	if err != nil {
		// Whatever the error, the caller cannot know whether the COMMIT took effect.
		e.Outcome = history.Unknown
		e.Detail = strings.TrimSpace(e.Detail + " " + detail(err))
	}
	if e.Msg != "" || e.Detail != "" || err != nil {
		t.r.addEvent(e)
	}
}

func (t *recTx) Rollback(ctx context.Context) error {
	err := t.inner.Rollback(ctx)
	if len(t.msgs) > 0 {
		t.recordRollback(err)
	}
	return err
}

//go:noinline
func (t *recTx) recordRollback(err error) {
	e := t.subject()
	e.Op, e.Outcome, e.Detail = history.OpRollback, outcome(err), strings.TrimSpace(e.Detail+" "+detail(err))
	t.r.addEvent(e)
}

// Publisher wraps a publisher.
func Publisher(p strategies.Publisher, log Log, proc string) strategies.Publisher {
	return &publisher{inner: p, r: recorder{log, proc}}
}

type publisher struct {
	inner strategies.Publisher
	r     recorder
}

func (p *publisher) Publish(ctx context.Context, m strategies.Message) (strategies.Confirmation, error) {
	c, err := p.inner.Publish(ctx, m)
	p.r.add(history.OpPublish, m.ID, m.Key, outcome(err), detail(err))
	if err != nil {
		return nil, err
	}
	return &confirmation{inner: c, r: p.r, m: m}, nil
}

type confirmation struct {
	inner strategies.Confirmation
	r     recorder
	m     strategies.Message
}

func (c *confirmation) Wait(ctx context.Context) error {
	err := c.inner.Wait(ctx)
	out := outcome(err)
	if errors.Is(err, strategies.ErrChannelClosed) {
		out = history.Unknown // sent, never confirmed: it may be queued
	}
	c.r.add(history.OpConfirm, c.m.ID, c.m.Key, out, detail(err))
	return err
}

// Subscription wraps a subscription. Idle waits are not recorded.
func Subscription(s strategies.Subscription, log Log, proc string) strategies.Subscription {
	return &subscription{inner: s, r: recorder{log, proc}, tags: map[uint64]strategies.Message{}}
}

type subscription struct {
	inner strategies.Subscription
	r     recorder
	tags  map[uint64]strategies.Message
}

func (s *subscription) Next(ctx context.Context) (strategies.Delivery, error) {
	d, err := s.inner.Next(ctx)
	s.recordNext(d, err)
	return d, err
}

//go:noinline
func (s *subscription) recordNext(d strategies.Delivery, err error) {
	switch {
	case errors.Is(err, strategies.ErrIdle):
	case err != nil:
		s.r.add(history.OpReceive, "", "", history.Fail, detail(err))
	default:
		s.tags[d.Tag] = d.Msg
		e := history.Event{Op: history.OpReceive, Outcome: history.OK, Msg: d.Msg.ID, Key: d.Msg.Key, Redelivered: d.Redelivered}
		if d.Redelivered {
			e.Detail = "redelivered"
		}
		s.r.addEvent(e)
	}
}

func (s *subscription) settle(op string, tag uint64, err error) {
	m := s.tags[tag]
	delete(s.tags, tag)
	s.r.add(op, m.ID, m.Key, outcome(err), detail(err))
}

func (s *subscription) Ack(ctx context.Context, tag uint64) error {
	err := s.inner.Ack(ctx, tag)
	s.settle(history.OpAck, tag, err)
	return err
}

func (s *subscription) Nack(ctx context.Context, tag uint64, requeue bool) error {
	err := s.inner.Nack(ctx, tag, requeue)
	s.settle(history.OpNack, tag, err)
	return err
}

// ChangeLog wraps a replication slot so that reads and advances are recorded as proc. Empty
// reads are not recorded (an idle tailer would fill the history with them).
func ChangeLog(l strategies.ChangeLog, log Log, proc string) strategies.ChangeLog {
	if l == nil {
		return nil
	}
	return &changeLog{inner: l, r: recorder{log, proc}}
}

type changeLog struct {
	inner strategies.ChangeLog
	r     recorder
}

func (l *changeLog) Read(ctx context.Context, limit int) (strategies.LogBatch, error) {
	b, err := l.inner.Read(ctx, limit)
	if err != nil {
		l.r.add(history.OpRead, "", "", history.Fail, detail(err))
		return b, err
	}
	for _, row := range b.Rows {
		l.r.add(history.OpRead, row.Msg.ID, row.Msg.Key, history.OK, "")
	}
	return b, nil
}

func (l *changeLog) Advance(ctx context.Context, pos uint64) error {
	err := l.inner.Advance(ctx, pos)
	d := fmt.Sprintf("to %d", pos)
	if err != nil {
		d = detail(err)
	}
	l.r.add(history.OpAdvance, "", "", outcome(err), d)
	return err
}
