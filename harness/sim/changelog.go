package sim

// The transaction log as a logical replication slot decodes it.

import (
	"context"
	"fmt"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/strategies"
)

// backlog is the number of committed log entries the slot has not confirmed.
func (d *db) backlog() int {
	n := 0
	for i := len(d.log) - 1; i >= 0 && d.log[i].pos > d.confirmed; i-- {
		n++
	}
	return n
}

// changeLog is the relay's strategies.ChangeLog: the replication slot. Read and Advance are the
// tailer's round trips to the database; partition-db and latency count them as BEGIN and COMMIT,
// and an ambiguous commit hits an Advance.
type changeLog struct{ p *proc }

func (l changeLog) Read(_ context.Context, limit int) (strategies.LogBatch, error) {
	p := l.p
	if p.unwinding {
		return strategies.LogBatch{}, errUnwinding
	}
	p.step()
	w, d := p.w, p.w.db
	if !w.dbOp(p, fault.SiteBegin) {
		return strategies.LogBatch{}, fmt.Errorf("read slot: %w", strategies.ErrConnection)
	}
	if w.slow[link{p.name, fault.LinkDB}] {
		p.sleep(w.cfg.SlowLink)
	}
	var b strategies.LogBatch
	for _, e := range d.log {
		if e.pos <= d.confirmed {
			continue
		}
		if len(b.Rows) >= max(1, limit) {
			break
		}
		b.Rows = append(b.Rows, e.rows...)
		b.End = e.pos
	}
	return b, nil
}

func (l changeLog) Advance(_ context.Context, pos uint64) error {
	p := l.p
	if p.unwinding {
		return errUnwinding
	}
	p.step()
	w, d := p.w, p.w.db
	if !w.dbOp(p, fault.SiteCommit) {
		// The server never gets the advance; the client cannot tell.
		return fmt.Errorf("advance slot: connection lost: %w", strategies.ErrUnknownOutcome)
	}
	ambiguous := w.commitReplyLost(p)
	d.confirmed = max(d.confirmed, pos)
	if w.cutInFlight(p) {
		return fmt.Errorf("advance slot: connection lost with the request in flight: %w", strategies.ErrUnknownOutcome)
	}
	if ambiguous {
		p.sleep(w.cfg.CommitTimeout)
		return fmt.Errorf("advance slot: no reply within %dms: %w", w.cfg.CommitTimeout, strategies.ErrUnknownOutcome)
	}
	return nil
}
