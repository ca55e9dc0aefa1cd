package strategies_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/strategies"
)

// The send-buffer calls of the fake: a put reports the id held (dropped) when seen is set.
func (c *calls) BufferPut(context.Context, strategies.Message, time.Time, time.Duration) (bool, error) {
	return !c.seen, c.do("buffer")
}
func (c *calls) ClaimBuffered(_ context.Context, before time.Time, _ int) ([]strategies.OutboxRow, error) {
	return c.claimed, c.do("claim-buffered " + before.Sub(time.Unix(0, 0)).String())
}

func (c *calls) NextBuffered(context.Context) (time.Time, bool, error) {
	return time.Unix(0, 0).Add(-time.Millisecond * 40), len(c.claimed) == 0 && c.seen, c.do("next-buffered")
}

// oneFailure fails the named call the first time only, then behaves as calls.
type oneFailure struct {
	*calls
	name string
	err  error
	held bool // after the failure, puts find the id held: the failed COMMIT took effect
}

func (o *oneFailure) Begin(context.Context) (strategies.Tx, error) { return o, o.do("begin") }
func (o *oneFailure) Commit(context.Context) error {
	if err := o.do("commit"); err != nil {
		return err
	}
	if o.name == "commit" && o.err != nil {
		err := o.err
		o.err = nil
		o.calls.seen = o.held
		return err
	}
	return nil
}

// TestDedupBufferOrder pins the dedup-buffer producer's order of operations: the buffer entry
// first, so a repeat stops there; a retry after an unanswered COMMIT, whose repeat the buffer
// drops when the COMMIT took effect; the business key behind it once the entry is forgotten; a
// retry budget of BufferRetry.Attempts.
func TestDedupBufferOrder(t *testing.T) {
	const once = "begin buffer insert @producer.before-commit commit"
	tookEffect, didNot := &calls{}, &calls{}
	cases := []struct {
		name    string
		f       *calls
		store   strategies.Store // f when nil
		want    string
		wantErr error
	}{
		{"plain", &calls{}, nil, once + " @producer.after-commit", nil},
		{"repeat dropped", &calls{seen: true}, nil, "begin buffer rollback", nil},
		{"forgotten, business key", &calls{fail: map[string]error{"insert": fmt.Errorf("insert: %w", strategies.ErrDuplicateKey)}}, nil,
			"begin buffer insert rollback", nil},
		{"unknown commit that took effect", tookEffect, &oneFailure{calls: tookEffect, name: "commit", err: strategies.ErrUnknownOutcome, held: true},
			once + " sleep 10ms begin buffer rollback", nil},
		{"unknown commit that did not", didNot, &oneFailure{calls: didNot, name: "commit", err: strategies.ErrUnknownOutcome},
			once + " sleep 10ms " + once + " @producer.after-commit", nil},
		{"gives up", &calls{fail: map[string]error{"begin": strategies.ErrConnection}}, nil,
			"begin sleep 10ms begin sleep 20ms begin sleep 40ms begin", strategies.ErrConnection},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := tc.store
			if store == nil {
				store = tc.f
			}
			env := strategies.ProducerEnv{Store: store, Publisher: tc.f, Faults: tc.f, Clock: tc.f}
			err := strategies.DedupBuffer{}.Produce(context.Background(), env, msg)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v, want %v", err, tc.wantErr)
			}
			if got := strings.Join(tc.f.log, " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
	if n := strategies.BufferRetry.Attempts; n != 4 {
		t.Errorf("BufferRetry.Attempts %d: the gives-up case above pins 4", n)
	}
}

// TestDedupBufferRelay: the relay claims only entries put at least BufferPeriod ago, then
// publishes and marks as the outbox relay does; a missing confirm rolls the mark back.
func TestDedupBufferRelay(t *testing.T) {
	if strategies.BufferPeriod <= 0 || strategies.BufferPeriod*5 > strategies.Window {
		t.Fatalf("BufferPeriod %v: want it well under Window %v", strategies.BufferPeriod, strategies.Window)
	}
	rows := []strategies.OutboxRow{{ID: 1, Msg: msg}}
	claim := "claim-buffered " + (-strategies.BufferPeriod).String()
	for _, tc := range []struct {
		confirms []error
		want     string
		n        int
	}{
		{nil, "begin " + claim + " @relay.after-claim publish confirm @relay.after-publish mark commit @relay.after-commit", 1},
		{[]error{strategies.ErrNoConfirm}, "begin " + claim + " @relay.after-claim publish confirm rollback", 0},
	} {
		f := &calls{claimed: rows, confirms: tc.confirms}
		n, _ := strategies.DedupBuffer{}.RelayPass(context.Background(), strategies.RelayEnv{Store: f, Publisher: f, Faults: f, Clock: f, Batch: 10})
		if got := strings.Join(f.log, " "); got != tc.want || n != tc.n {
			t.Errorf("got %d: %s\nwant %d: %s", n, got, tc.n, tc.want)
		}
	}
	// Nothing due: with an entry put 40 ms ago the relay sleeps the rest of the period and claims
	// again; with none it returns at once.
	for _, tc := range []struct {
		pending bool
		want    string
	}{
		{true, "begin " + claim + " next-buffered rollback sleep " + (strategies.BufferPeriod - 40*time.Millisecond).String() + " begin " + claim + " next-buffered rollback"},
		{false, "begin " + claim + " next-buffered rollback"},
	} {
		f := &calls{seen: tc.pending}
		n, err := strategies.DedupBuffer{}.RelayPass(context.Background(), strategies.RelayEnv{Store: f, Publisher: f, Faults: f, Clock: f, Batch: 10})
		if got := strings.Join(f.log, " "); got != tc.want || n != 0 || err != nil {
			t.Errorf("got %d %v: %s\nwant 0: %s", n, err, got, tc.want)
		}
	}
}
