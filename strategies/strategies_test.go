package strategies_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/strategies"
)

// calls is a fake of every port that writes down what a strategy does, in order, and can be told
// to fail one call.
type calls struct {
	log      []string
	fail     map[string]error // call name -> error it returns
	seen     bool             // what InboxContains / Processed answer
	claimed  []strategies.OutboxRow
	nextTag  uint64
	confirms []error
}

func (c *calls) do(name string) error {
	c.log = append(c.log, name)
	return c.fail[name]
}

func (c *calls) Begin(context.Context) (strategies.Tx, error) { return c, c.do("begin") }
func (c *calls) InsertBusiness(_ context.Context, m strategies.Message) error {
	return c.do("insert")
}
func (c *calls) AppendOutbox(context.Context, strategies.Message) error { return c.do("outbox") }
func (c *calls) ClaimOutbox(context.Context, int) ([]strategies.OutboxRow, error) {
	return c.claimed, c.do("claim")
}
func (c *calls) MarkPublished(context.Context, []int64) error { return c.do("mark") }
func (c *calls) ReadOutboxAfter(context.Context, int64, int) ([]strategies.OutboxRow, error) {
	return c.claimed, c.do("read-after")
}
func (c *calls) RelayCursor(context.Context, string) (int64, error)  { return 0, c.do("cursor") }
func (c *calls) SetRelayCursor(context.Context, string, int64) error { return c.do("set-cursor") }
func (c *calls) ReadOutboxFenced(context.Context, strategies.Position, int) ([]strategies.OutboxRow, error) {
	return c.claimed, c.do("read-fenced")
}
func (c *calls) RelayPosition(context.Context, string) (strategies.Position, error) {
	return strategies.Position{}, c.do("position")
}
func (c *calls) SetRelayPosition(context.Context, string, strategies.Position) error {
	return c.do("set-position")
}
func (c *calls) Apply(context.Context, strategies.Message) error { return c.do("apply") }
func (c *calls) ApplyIdempotent(context.Context, strategies.Message) error {
	return c.do("apply-idempotent")
}
func (c *calls) ApplyVersioned(context.Context, strategies.Message) (bool, error) {
	return !c.seen, c.do("apply-versioned")
}
func (c *calls) InboxInsert(context.Context, string, string) error { return c.do("inbox-insert") }
func (c *calls) InboxContains(context.Context, string, string) (bool, error) {
	return c.seen, c.do("inbox-check")
}
func (c *calls) RecordProcessed(context.Context, string, string) error { return c.do("record") }
func (c *calls) Processed(context.Context, string, string) (bool, error) {
	return c.seen, c.do("processed-check")
}
func (c *calls) Commit(context.Context) error   { return c.do("commit") }
func (c *calls) Rollback(context.Context) error { return c.do("rollback") }
func (c *calls) Publish(context.Context, strategies.Message) (strategies.Confirmation, error) {
	return c, c.do("publish")
}
func (c *calls) Wait(context.Context) error {
	c.log = append(c.log, "confirm")
	if len(c.confirms) > 0 {
		err := c.confirms[0]
		c.confirms = c.confirms[1:]
		return err
	}
	return nil
}
func (c *calls) Next(context.Context) (strategies.Delivery, error) {
	c.nextTag++
	return strategies.Delivery{Tag: c.nextTag}, c.do("next")
}
func (c *calls) Ack(context.Context, uint64) error { return c.do("ack") }
func (c *calls) Nack(_ context.Context, _ uint64, requeue bool) error {
	return c.do(fmt.Sprintf("nack(requeue=%v)", requeue))
}
func (c *calls) Point(_ context.Context, name string)     { c.log = append(c.log, "@"+name) }
func (c *calls) Sleep(_ context.Context, d time.Duration) { c.log = append(c.log, "sleep "+d.String()) }
func (c *calls) Now() time.Time                           { return time.Unix(0, 0).UTC() }

var msg = strategies.Message{ID: "order-1", Key: "order-1", Amount: 10}

// TestConsumerOrder pins each consumer's order of operations, the mechanics the catalogue of
// expected outcomes is reasoned from.
func TestConsumerOrder(t *testing.T) {
	cases := []struct {
		consumer    string
		redelivered bool
		seen        bool
		fail        map[string]error
		want        string
	}{
		{"naive", false, false, nil, "@consumer.after-receive begin apply @consumer.before-commit commit @consumer.after-effect ack"},
		{"naive", false, false, map[string]error{"commit": strategies.ErrUnknownOutcome},
			"@consumer.after-receive begin apply @consumer.before-commit commit sleep 20ms nack(requeue=true)"},
		{"ack-first", false, false, nil, "@consumer.after-receive ack @consumer.after-ack begin apply @consumer.before-commit commit @consumer.after-effect"},
		{"ack-first", false, false, map[string]error{"ack": strategies.ErrChannelClosed}, "@consumer.after-receive ack"},
		{"inbox", false, false, nil, "@consumer.after-receive begin inbox-insert apply @consumer.before-commit commit @consumer.after-effect ack"},
		{"inbox", false, false, map[string]error{"inbox-insert": strategies.ErrDuplicateKey},
			"@consumer.after-receive begin inbox-insert rollback ack"},
		{"inbox-check-first", false, false, nil, "@consumer.after-receive begin inbox-check inbox-insert apply @consumer.before-commit commit @consumer.after-effect ack"},
		{"inbox-check-first", false, true, nil, "@consumer.after-receive begin inbox-check rollback ack"},
		{"inbox-check-first", false, false, map[string]error{"inbox-insert": strategies.ErrDuplicateKey},
			"@consumer.after-receive begin inbox-check inbox-insert rollback ack"},
		{"inbox-racy", false, false, nil,
			"@consumer.after-receive begin processed-check rollback @consumer.after-check begin apply record @consumer.before-commit commit @consumer.after-effect ack"},
		{"inbox-racy", false, true, nil, "@consumer.after-receive begin processed-check rollback ack"},
		{"natural", false, false, nil, "@consumer.after-receive begin apply-idempotent @consumer.before-commit commit @consumer.after-effect ack"},
		{"redelivered-flag", false, true, nil, "@consumer.after-receive begin apply record @consumer.before-commit commit @consumer.after-effect ack"},
		{"redelivered-flag", true, true, nil, "@consumer.after-receive begin processed-check rollback ack"},
		{"redelivered-flag", true, false, nil, "@consumer.after-receive begin processed-check apply record @consumer.before-commit commit @consumer.after-effect ack"},
		{"versioned", false, false, nil, "@consumer.after-receive begin apply-versioned @consumer.before-commit commit @consumer.after-effect ack"},
		{"versioned", false, false, map[string]error{"apply-versioned": strategies.ErrLockTimeout},
			"@consumer.after-receive begin apply-versioned rollback sleep 20ms nack(requeue=true)"},
		{"idempotency-key", false, false, nil, "@consumer.after-receive begin inbox-insert apply-idempotent @consumer.before-commit commit @consumer.after-effect ack"},
		{"idempotency-key", false, false, map[string]error{"inbox-insert": strategies.ErrDuplicateKey},
			"@consumer.after-receive begin inbox-insert rollback ack"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/redelivered=%v/seen=%v/fail=%v", tc.consumer, tc.redelivered, tc.seen, tc.fail), func(t *testing.T) {
			var c strategies.Consumer = strategies.InboxCheckFirst{} // not in the catalogue
			if tc.consumer != c.Name() {
				var err error
				if c, err = strategies.LookupConsumer(tc.consumer); err != nil {
					t.Fatal(err)
				}
			}
			f := &calls{fail: tc.fail, seen: tc.seen}
			env := strategies.ConsumerEnv{Group: "g", Store: f, Sub: f, Faults: f, Clock: f}
			_ = c.Handle(context.Background(), env, strategies.Delivery{Msg: msg, Tag: 1, Redelivered: tc.redelivered})
			if got := strings.Join(f.log, " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			for _, p := range f.log {
				if strings.HasPrefix(p, "@") && !slices.Contains(c.Points(), p[1:]) {
					t.Errorf("passes %s, which Points() does not list", p)
				}
			}
		})
	}
}

// TestProducerOrder pins each producer's order, retries after a lost confirm included.
func TestProducerOrder(t *testing.T) {
	cases := []struct {
		producer string
		fail     map[string]error
		confirms []error
		want     string
		wantErr  bool
	}{
		{"double-write", nil, nil, "begin insert commit @producer.after-commit publish confirm @producer.after-publish", false},
		{"double-write", map[string]error{"commit": strategies.ErrUnknownOutcome}, nil, "begin insert commit", true},
		{"double-write", nil, []error{strategies.ErrNoConfirm},
			"begin insert commit @producer.after-commit publish confirm sleep 10ms publish confirm @producer.after-publish", false},
		{"publish-first", nil, nil, "publish confirm @producer.after-publish begin insert commit @producer.after-commit", false},
		{"outbox", nil, nil, "begin insert outbox @producer.before-commit commit @producer.after-commit", false},
		{"log-tailing", nil, nil, "begin insert outbox @producer.before-commit commit @producer.after-commit", false},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/%v/%v", tc.producer, tc.fail, tc.confirms), func(t *testing.T) {
			p, err := strategies.LookupProducer(tc.producer)
			if err != nil {
				t.Fatal(err)
			}
			f := &calls{fail: tc.fail, confirms: tc.confirms}
			env := strategies.ProducerEnv{Store: f, Publisher: f, Faults: f, Clock: f}
			err = p.Produce(context.Background(), env, msg)
			if (err != nil) != tc.wantErr {
				t.Errorf("error %v, want error: %v", err, tc.wantErr)
			}
			if got := strings.Join(f.log, " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// TestPublishGivesUp: after PublishRetry.Attempts unconfirmed publishes the producer reports the
// failure, wrapping the last cause.
func TestPublishGivesUp(t *testing.T) {
	p, _ := strategies.LookupProducer("double-write")
	f := &calls{confirms: []error{strategies.ErrNoConfirm, strategies.ErrNoConfirm, strategies.ErrNoConfirm, strategies.ErrNoConfirm}}
	err := p.Produce(context.Background(), strategies.ProducerEnv{Store: f, Publisher: f, Faults: f, Clock: f}, msg)
	if !errors.Is(err, strategies.ErrNoConfirm) {
		t.Fatalf("error %v, want one wrapping ErrNoConfirm", err)
	}
	if n := strings.Count(strings.Join(f.log, " "), "publish"); n != strategies.PublishRetry.Attempts {
		t.Errorf("%d publishes, want %d", n, strategies.PublishRetry.Attempts)
	}
}

// TestRelayPass: the relay publishes the whole claimed batch before waiting, and rolls back
// (leaving the rows for the next pass) when a confirm is missing.
func TestRelayPass(t *testing.T) {
	rows := []strategies.OutboxRow{{ID: 1, Msg: msg}, {ID: 2, Msg: strategies.Message{ID: "order-2"}}}
	cases := []struct {
		confirms []error
		want     string
		n        int
	}{
		{nil, "begin claim @relay.after-claim publish publish confirm confirm @relay.after-publish mark commit @relay.after-commit", 2},
		{[]error{nil, strategies.ErrNoConfirm}, "begin claim @relay.after-claim publish publish confirm confirm rollback", 0},
	}
	for _, tc := range cases {
		f := &calls{claimed: rows, confirms: tc.confirms}
		r := strategies.Outbox{}
		n, _ := r.RelayPass(context.Background(), strategies.RelayEnv{Store: f, Publisher: f, Faults: f, Clock: f, Batch: 10})
		if got := strings.Join(f.log, " "); got != tc.want || n != tc.n {
			t.Errorf("got %d: %s\nwant %d: %s", n, got, tc.n, tc.want)
		}
	}
}

// slot is a fake replication slot: Read returns its batch until Advance moves past it.
type slot struct {
	f     *calls
	batch strategies.LogBatch
	done  uint64
}

func (s *slot) Read(context.Context, int) (strategies.LogBatch, error) {
	if s.batch.End <= s.done {
		return strategies.LogBatch{}, s.f.do("read")
	}
	return s.batch, s.f.do("read")
}

func (s *slot) Advance(_ context.Context, pos uint64) error {
	err := s.f.do("advance")
	if err == nil {
		s.done = pos
	}
	return err
}

// TestTailerPass: the tailer publishes what it read before it advances the slot; a missing
// confirm leaves the slot where it was, so the next pass publishes the same rows again.
func TestTailerPass(t *testing.T) {
	rows := []strategies.OutboxRow{{ID: 1, Msg: msg}, {ID: 2, Msg: strategies.Message{ID: "order-2"}}}
	cases := []struct {
		confirms []error
		want     string
		n        int
		advanced bool
	}{
		{nil, "read @relay.after-read publish publish confirm confirm @relay.after-publish advance @relay.after-advance", 2, true},
		{[]error{strategies.ErrNoConfirm}, "read @relay.after-read publish publish confirm confirm", 0, false},
	}
	for _, tc := range cases {
		f := &calls{confirms: tc.confirms}
		l := &slot{f: f, batch: strategies.LogBatch{Rows: rows, End: 7}}
		n, _ := strategies.LogTailing{}.RelayPass(context.Background(), strategies.RelayEnv{Log: l, Publisher: f, Faults: f, Clock: f, Batch: 10})
		if got := strings.Join(f.log, " "); got != tc.want || n != tc.n || (l.done == 7) != tc.advanced {
			t.Errorf("got %d (advanced %v): %s\nwant %d (advanced %v): %s", n, l.done == 7, got, tc.n, tc.advanced, tc.want)
		}
	}
	// Nothing to read: no publish, no advance.
	f := &calls{}
	l := &slot{f: f, batch: strategies.LogBatch{}}
	if n, err := (strategies.LogTailing{}).RelayPass(context.Background(), strategies.RelayEnv{Log: l, Publisher: f, Faults: f, Clock: f, Batch: 10}); n != 0 || err != nil || strings.Join(f.log, " ") != "read" {
		t.Errorf("empty slot: %d, %v, %v", n, err, f.log)
	}
	// No slot from the backend: a clear error, not a panic.
	if _, err := (strategies.LogTailing{}).RelayPass(context.Background(), strategies.RelayEnv{Publisher: f, Faults: f, Clock: f, Batch: 10}); err == nil {
		t.Error("a tailer without a slot did not fail")
	}
}

// TestRegistry: names are unique, lookups of unknown names fail with the known names listed.
func TestRegistry(t *testing.T) {
	names := append(strategies.ProducerNames(), strategies.ConsumerNames()...)
	for i, n := range names {
		if slices.Contains(names[i+1:], n) {
			t.Errorf("name %s registered twice", n)
		}
	}
	if _, err := strategies.LookupProducer("nosuch"); err == nil || !strings.Contains(err.Error(), "outbox") {
		t.Errorf("unknown producer: %v", err)
	}
	if _, err := strategies.LookupConsumer("nosuch"); err == nil || !strings.Contains(err.Error(), "inbox") {
		t.Errorf("unknown consumer: %v", err)
	}
	if !strategies.HasRelay(strategies.Outbox{}) || strategies.HasRelay(strategies.DoubleWrite{}) {
		t.Error("only the outbox has a relay")
	}
}
