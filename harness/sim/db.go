package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// db is the simulated database at READ COMMITTED. A transaction's writes are private until it
// commits; every write that a unique key or a row guards takes a lock held to the end of the
// transaction, and a second writer of the same key waits for the first (then fails on the key, or
// proceeds if the first aborted), as in PostgreSQL.
type db struct {
	w      *world
	effect workload.Effect // what Apply does: the scenario's workload's effect kind

	business   map[string]history.Message
	committed  []history.Message // business rows in commit order
	outbox     []*outboxRow      // id order
	nextOutbox int64
	inbox      map[string]bool // consumer \x00 message id
	processed  map[string]int  // consumer \x00 message id -> rows
	effects    []history.Effect
	idem       map[string]bool // committed idempotency keys of natural effects
	buffer     bufferState     // the dedup-buffer producer's send buffer (buffer.go)
	values     map[string]int64
	versions   map[string]int64 // per-key version of versioned effects
	window     map[string]int64 // the dedup window's records: key -> seen at, in ms (window.go); made at the first commit
	cursors    map[string]int64 // relay name -> the last outbox id it published (its durable cursor)
	fence                       // transaction ids and fenced relays' positions (fence.go)

	// The transaction log as a logical replication slot sees it: one entry per committed
	// transaction that inserted outbox rows, in commit order. tails: the producer's relay reads
	// it (log tailing), so committed outbox rows are the log's backlog, not unpublished rows.
	tails     bool
	log       []logEntry
	commits   uint64 // commit counter: a log position
	confirmed uint64 // the slot's confirmed position

	locks       map[string]*tx
	open        int // open transactions
	unpublished int // committed outbox rows not yet marked published

	chain *chainDB // the chain workload's downstream tables (chain.go); nil for the others
}

type logEntry struct {
	pos  uint64
	rows []strategies.OutboxRow
}

type outboxRow struct {
	id        int64
	msg       history.Message
	committed bool
	published bool
	lockedBy  *tx
	xid       uint64 // the inserting transaction's id
}

func newDB(w *world, name string) *db {
	return &db{
		w: w, effect: workload.EffectOf(name),
		business: map[string]history.Message{}, inbox: map[string]bool{}, processed: map[string]int{},
		idem: map[string]bool{}, values: map[string]int64{}, versions: map[string]int64{}, locks: map[string]*tx{},
		cursors:    map[string]int64{},
		nextOutbox: 1,
		chain:      newChainDB(name),
	}
}

// tx is one transaction; its fields hold the private writes applied at commit.
type tx struct {
	d       *db
	p       *proc
	done    bool
	aborted error // set when a statement failed: later statements fail with it

	locks     []string
	business  []history.Message
	outbox    []*outboxRow
	claimed   []*outboxRow
	marked    []*outboxRow
	inbox     []string
	processed []string
	buffered  []bufferPut // send-buffer puts (buffer.go)
	effects   []history.Effect
	idem      []string
	values    map[string]int64
	versions  map[string]int64
	win       windowWrites     // the dedup window's records it forgot and inserted (window.go)
	cursors   map[string]int64 // relay cursors written, made on the first write
	chain     *chainWrites     // writes to the chain workload's downstream tables (chain.go)
	xid       uint64           // the transaction id, assigned at the first write (0: none yet)
	positions map[string]strategies.Position

	rec record.TxSlot // the recording wrapper's room (pool.go)
}

// RecordSlot gives the recording wrapper its room in the transaction.
func (t *tx) RecordSlot() *record.TxSlot { return &t.rec }

// The errors of a transaction's link and end, made once.
var (
	errBeginDown     = fmt.Errorf("begin: %w", strategies.ErrConnection)
	errStatementDown = fmt.Errorf("statement: %w", strategies.ErrConnection)
	errAfterEnd      = fmt.Errorf("statement after the transaction ended: %w", strategies.ErrTxAborted)
)

// store is a process's strategies.Store.
type store struct{ p *proc }

func (s store) Begin(context.Context) (strategies.Tx, error) {
	p := s.p
	if p.unwinding {
		return nil, errUnwinding
	}
	p.step()
	if !p.w.dbOp(p, fault.SiteBegin) {
		return nil, errBeginDown
	}
	t := p.w.newTx(p)
	p.txs = append(p.txs, t)
	p.w.db.open++
	return t, nil
}

// enter is the start of every statement: a scheduling point, the link check, the abort check.
// site is the protocol site partition-db counts it at: fault.SiteCommit for the COMMIT, "" for
// the statements inside a transaction, which no fault counts (BEGIN and COMMIT only are the
// operations the real backend stops its workers at, so that a schedule's "#N" means the same on
// both backends).
func (t *tx) enter(site string) error {
	p := t.p
	if p.unwinding {
		return errUnwinding
	}
	p.step()
	if t.done {
		return errAfterEnd
	}
	if !p.w.dbOp(p, site) {
		t.abort("connection lost")
		return errStatementDown
	}
	if site == "" && p.w.slow[link{p.name, fault.LinkDB}] {
		p.sleep(p.w.cfg.SlowLink) // the reply is late; statements other than COMMIT have no deadline
	}
	if t.aborted != nil {
		return fmt.Errorf("%w (after: %v)", strategies.ErrTxAborted, t.aborted)
	}
	return nil
}

// fail aborts the transaction's future statements with err, as PostgreSQL does after an error.
func (t *tx) fail(err error) error {
	t.aborted = err
	return err
}

// end releases everything the transaction holds.
func (t *tx) end() {
	if t.done {
		return
	}
	t.done = true
	t.endChain()
	for _, k := range t.locks {
		if t.d.locks[k] == t {
			delete(t.d.locks, k)
		}
	}
	for _, r := range t.claimed {
		if r.lockedBy == t {
			r.lockedBy = nil
		}
	}
	t.d.open--
	t.d.finish(t)
	t.p.txs = slices.DeleteFunc(t.p.txs, func(x *tx) bool { return x == t })
}

// abort ends the transaction server-side without its writes.
func (t *tx) abort(string) {
	if t.done {
		return
	}
	t.abortWrites()
	t.end()
}

// lock takes key for the rest of the transaction, waiting (with a deadline) while another
// transaction holds it.
func (t *tx) lock(key string) error {
	d := t.d
	deadline := d.w.now + d.w.cfg.LockTimeout // one deadline, however many holders come and go
	for {
		h := d.locks[key]
		if h == nil {
			d.locks[key] = t
			t.locks = append(t.locks, key)
			return nil
		}
		if h == t {
			return nil
		}
		if d.w.now >= deadline {
			return t.fail(fmt.Errorf("lock %s: %w", key, strategies.ErrLockTimeout))
		}
		t.p.block(func() bool { return d.locks[key] != h }, deadline)
		if t.done {
			return fmt.Errorf("lock %s: %w", key, strategies.ErrConnection)
		}
		if d.locks[key] == h {
			return t.fail(fmt.Errorf("lock %s: %w", key, strategies.ErrLockTimeout))
		}
	}
}

// claimKey inserts a unique key: false when a committed or own row has it (after waiting for a
// concurrent inserter to finish).
func (t *tx) claimKey(key string, committed func() bool, own []string) (bool, error) {
	if committed() || slices.Contains(own, key) {
		return false, nil
	}
	if err := t.lock(key); err != nil {
		return false, err
	}
	return !committed(), nil
}

func (t *tx) InsertBusiness(_ context.Context, m history.Message) error {
	if err := t.enter(""); err != nil {
		return err
	}
	t.write()
	ids := make([]string, len(t.business))
	for i, b := range t.business {
		ids[i] = "business/" + b.ID
	}
	ok, err := t.claimKey("business/"+m.ID, func() bool { _, ok := t.d.business[m.ID]; return ok }, ids)
	if err != nil {
		return err
	}
	if !ok {
		return t.fail(fmt.Errorf("insert %s: %w", m.ID, strategies.ErrDuplicateKey))
	}
	t.business = append(t.business, m)
	return nil
}

// setValue writes key's value in the transaction's private writes.
func (t *tx) setValue(key string, v int64) {
	if t.values == nil {
		t.values = map[string]int64{}
	}
	t.values[key] = v
}

// value is key's value as this transaction sees it.
func (t *tx) value(key string) int64 {
	if v, ok := t.values[key]; ok {
		return v
	}
	return t.d.values[key]
}

// effect writes the workload's effect of m: always an effect row; where the effect adds,
// balance += amount (credits); where it sets, price := amount (prices). The value's row is locked
// for the rest of the transaction.
func (t *tx) effect(m history.Message) error {
	t.write()
	t.effects = append(t.effects, history.Effect{Msg: m.ID, Key: m.Key, Amount: m.Amount})
	switch t.d.effect {
	case workload.Add:
		if err := t.lock("value/" + m.Key); err != nil {
			return err
		}
		t.setValue(m.Key, t.value(m.Key)+m.Amount)
	case workload.Set:
		if err := t.lock("value/" + m.Key); err != nil {
			return err
		}
		t.setValue(m.Key, m.Amount)
	}
	return nil
}

func (t *tx) Apply(_ context.Context, m history.Message) error {
	if t.p.chainRole() == shipping {
		return t.ship(m)
	}
	if t.d.effect == workload.External {
		return t.d.w.send(t.p, m, "") // outside the database: no statement, no rollback
	}
	if err := t.enter(""); err != nil {
		return err
	}
	return t.effect(m)
}

// ApplyVersioned compares m.Seq with the key's version row (locked to the end of the
// transaction) and writes the effect and the new version only when m is newer.
func (t *tx) ApplyVersioned(_ context.Context, m history.Message) (bool, error) {
	if err := t.enter(""); err != nil {
		return false, err
	}
	t.write()
	if err := t.lock("version/" + m.Key); err != nil {
		return false, err
	}
	current, ok := t.versions[m.Key]
	if !ok {
		current = t.d.versions[m.Key]
	}
	if m.Seq <= current {
		return false, nil
	}
	if t.versions == nil {
		t.versions = map[string]int64{}
	}
	t.versions[m.Key] = m.Seq
	if t.d.effect == workload.External {
		return true, t.d.w.send(t.p, m, "")
	}
	return true, t.effect(m)
}

// ApplyIdempotent writes the effect under a unique key on the event's business id
// (INSERT ... ON CONFLICT DO NOTHING): a repeat writes nothing. Where the effect sets a value
// (prices) the upsert runs whatever the log says, since setting a price is idempotent by itself;
// an external effect goes to the gateway with the event id as its idempotency key.
func (t *tx) ApplyIdempotent(_ context.Context, m history.Message) error {
	if t.d.effect == workload.External {
		return t.d.w.send(t.p, m, m.ID) // the gateway keeps the key
	}
	if err := t.enter(""); err != nil {
		return err
	}
	key := "idem/" + m.ID
	fresh, err := t.claimKey(key, func() bool { return t.d.idem[key] }, t.idem)
	if err != nil {
		return err
	}
	if fresh {
		t.idem = append(t.idem, key)
		return t.effect(m)
	}
	if t.d.effect == workload.Set {
		t.write()
		if err := t.lock("value/" + m.Key); err != nil {
			return err
		}
		t.setValue(m.Key, m.Amount)
	}
	return nil
}

func inboxKey(consumer, id string) string { return consumer + "\x00" + id }

func (t *tx) InboxInsert(_ context.Context, consumer, msgID string) error {
	if err := t.enter(""); err != nil {
		return err
	}
	t.write()
	key := inboxKey(consumer, msgID)
	ok, err := t.claimKey("inbox/"+key, func() bool { return t.d.inbox[key] }, prefixed("inbox/", t.inbox))
	if err != nil {
		return err
	}
	if !ok {
		return t.fail(fmt.Errorf("inbox %s: %w", msgID, strategies.ErrDuplicateKey))
	}
	t.inbox = append(t.inbox, key)
	return nil
}

func prefixed(prefix string, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = prefix + k
	}
	return out
}

func (t *tx) InboxContains(_ context.Context, consumer, msgID string) (bool, error) {
	if err := t.enter(""); err != nil {
		return false, err
	}
	key := inboxKey(consumer, msgID)
	return t.d.inbox[key] || slices.Contains(t.inbox, key), nil
}

func (t *tx) RecordProcessed(_ context.Context, consumer, msgID string) error {
	if err := t.enter(""); err != nil {
		return err
	}
	t.write()
	t.processed = append(t.processed, inboxKey(consumer, msgID))
	return nil
}

func (t *tx) Processed(_ context.Context, consumer, msgID string) (bool, error) {
	if err := t.enter(""); err != nil {
		return false, err
	}
	key := inboxKey(consumer, msgID)
	return t.d.processed[key] > 0 || slices.Contains(t.processed, key), nil
}

func (t *tx) Commit(context.Context) error {
	p, w := t.p, t.d.w
	if err := t.enter(fault.SiteCommit); err != nil {
		t.abort("commit of a failed transaction")
		w.cutInFlight(p)
		if errors.Is(err, strategies.ErrConnection) {
			// The link is down as the COMMIT goes out: the server never gets it and aborts; the
			// client, whose request may or may not have left, cannot tell.
			return fmt.Errorf("commit: connection lost: %w", strategies.ErrUnknownOutcome)
		}
		return err
	}
	ambiguous := w.commitReplyLost(p)
	w.waitForOtherProducer(p)
	if t.aborted != nil { // a cut or a crash while it waited
		return fmt.Errorf("commit: %w (after: %v)", strategies.ErrTxAborted, t.aborted)
	}
	t.apply()
	if w.cutInFlight(p) {
		// The link died with the COMMIT on the wire: the server committed, the client's
		// connection is gone and no reply will come. It cannot know the outcome.
		return fmt.Errorf("commit: connection lost with the COMMIT in flight: %w", strategies.ErrUnknownOutcome)
	}
	if ambiguous {
		// The COMMIT took effect; the reply is lost or late and the client waits for it in vain.
		p.sleep(w.cfg.CommitTimeout)
		return fmt.Errorf("commit: no reply within %dms: %w", w.cfg.CommitTimeout, strategies.ErrUnknownOutcome)
	}
	return nil
}

// apply makes the transaction's writes visible at once and ends it.
func (t *tx) apply() {
	d := t.d
	for _, m := range t.business {
		d.business[m.ID] = m
		d.committed = append(d.committed, m)
	}
	d.commits++
	var logged []strategies.OutboxRow
	for _, r := range t.outbox {
		r.committed = true
		if d.events {
			d.committed = append(d.committed, r.msg) // event sourcing: the event is the committed state
		}
		if d.tails {
			logged = append(logged, strategies.OutboxRow{ID: r.id, Msg: r.msg})
		} else {
			d.unpublished++
		}
	}
	if len(logged) > 0 {
		d.log = append(d.log, logEntry{pos: d.commits, rows: logged})
	}
	d.buffer.commit(t)
	for _, k := range sortedKeys(t.versions) {
		d.versions[k] = t.versions[k]
	}
	for _, r := range t.marked {
		if !r.published {
			r.published = true
			d.unpublished--
		}
	}
	for _, k := range t.inbox {
		d.inbox[k] = true
	}
	for _, k := range t.processed {
		d.processed[k]++
	}
	for _, k := range t.idem {
		d.idem[k] = true
	}
	d.effects = append(d.effects, t.effects...)
	for _, k := range sortedKeys(t.values) {
		d.values[k] = t.values[k]
	}
	t.applyWindow()
	for _, k := range sortedKeys(t.cursors) {
		d.cursors[k] = t.cursors[k]
	}
	d.commitPositions(t)
	t.applyChain()
	t.end()
}

func (t *tx) Rollback(context.Context) error {
	if t.p.unwinding {
		t.abort("process dying")
		return nil
	}
	t.p.step()
	if t.done {
		return nil
	}
	t.abortWrites()
	t.end()
	return nil
}

// abortWrites forgets rows the transaction inserted into shared structures (outbox ids are
// consumed like a sequence; the rows themselves never become visible).
func (t *tx) abortWrites() {
	if len(t.outbox) == 0 {
		return
	}
	t.d.outbox = slices.DeleteFunc(t.d.outbox, func(r *outboxRow) bool { return slices.Contains(t.outbox, r) })
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// final reads the database the way the invariants see it.
func (d *db) final() history.Final {
	var f history.Final
	f.Committed = slices.Clone(d.committed)
	f.Effects = slices.Clone(d.effects)
	for _, k := range sortedKeys(d.values) {
		f.Values = append(f.Values, history.Value{Key: k, Value: d.values[k]})
	}
	for _, r := range d.outbox {
		if r.committed {
			f.Outbox = append(f.Outbox, history.OutboxRow{ID: r.id, Msg: r.msg.ID, Published: r.published})
		}
	}
	d.finalChain(&f)
	return f
}
