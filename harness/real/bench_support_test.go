package real

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// Strategies on the real adapters

// benchFaults passes every fault point: no faults here.
type benchFaults struct{}

func (benchFaults) Point(context.Context, string) {}

// benchStore wraps a Store: when a transaction that wrote business rows (InsertBusiness) or
// effects (Apply, ApplyIdempotent) commits, it calls onCommit with their message ids and the
// time the COMMIT returned.
type benchStore struct {
	strategies.Store
	onCommit func(ids []string, at time.Time)
	probe    *relayProbe // optional: times the relay's statements
}

func (s benchStore) Begin(ctx context.Context) (strategies.Tx, error) {
	t0 := time.Now()
	tx, err := s.Store.Begin(ctx)
	if s.probe != nil {
		s.probe.add(&s.probe.claim, t0)
	}
	if err != nil {
		return nil, err
	}
	return &benchTx{Tx: tx, s: s}, nil
}

type benchTx struct {
	strategies.Tx
	s   benchStore
	ids []string
}

func (t *benchTx) InsertBusiness(ctx context.Context, m history.Message) error {
	err := t.Tx.InsertBusiness(ctx, m)
	if err == nil {
		t.ids = append(t.ids, m.ID)
	}
	return err
}

func (t *benchTx) Apply(ctx context.Context, m history.Message) error {
	err := t.Tx.Apply(ctx, m)
	if err == nil {
		t.ids = append(t.ids, m.ID)
	}
	return err
}

func (t *benchTx) ApplyIdempotent(ctx context.Context, m history.Message) error {
	err := t.Tx.ApplyIdempotent(ctx, m)
	if err == nil {
		t.ids = append(t.ids, m.ID)
	}
	return err
}

func (t *benchTx) ClaimOutbox(ctx context.Context, limit int) ([]strategies.OutboxRow, error) {
	t0 := time.Now()
	rows, err := t.Tx.ClaimOutbox(ctx, limit)
	if t.s.probe != nil {
		t.s.probe.add(&t.s.probe.claim, t0)
	}
	return rows, err
}

func (t *benchTx) MarkPublished(ctx context.Context, ids []int64) error {
	t0 := time.Now()
	err := t.Tx.MarkPublished(ctx, ids)
	if t.s.probe != nil {
		t.s.probe.add(&t.s.probe.mark, t0)
	}
	return err
}

func (t *benchTx) Commit(ctx context.Context) error {
	t0 := time.Now()
	err := t.Tx.Commit(ctx)
	at := time.Now()
	if t.s.probe != nil {
		t.s.probe.add(&t.s.probe.mark, t0)
	}
	if err == nil && len(t.ids) > 0 && t.s.onCommit != nil {
		t.s.onCommit(t.ids, at)
	}
	return err
}

// relayProbe adds up where a relay's time goes: claiming (BEGIN and the SKIP LOCKED select),
// publishing, waiting for confirms, marking (the UPDATE and the COMMIT).
type relayProbe struct {
	claim, publish, confirm, mark atomic.Int64 // nanoseconds
}

func (p *relayProbe) add(to *atomic.Int64, since time.Time) { to.Add(int64(time.Since(since))) }

func (p *relayProbe) report(b *testing.B, elapsed time.Duration) {
	for _, x := range []struct {
		name string
		v    *atomic.Int64
	}{{"claim", &p.claim}, {"publish", &p.publish}, {"confirm", &p.confirm}, {"mark", &p.mark}} {
		b.ReportMetric(100*float64(x.v.Load())/float64(elapsed), "%"+x.name)
	}
}

// probedPublisher times Publish and the confirmations' Wait.
type probedPublisher struct {
	strategies.Publisher
	probe *relayProbe
}

func (p probedPublisher) Publish(ctx context.Context, m history.Message) (strategies.Confirmation, error) {
	t0 := time.Now()
	c, err := p.Publisher.Publish(ctx, m)
	p.probe.add(&p.probe.publish, t0)
	if err != nil {
		return nil, err
	}
	return probedConfirmation{c, p.probe}, nil
}

type probedConfirmation struct {
	strategies.Confirmation
	probe *relayProbe
}

func (c probedConfirmation) Wait(ctx context.Context) error {
	t0 := time.Now()
	err := c.Confirmation.Wait(ctx)
	c.probe.add(&c.probe.confirm, t0)
	return err
}

// benchTracker records, per message id, when its business commit returned and when its effect
// committed, and signals when want distinct effects have committed.
type benchTracker struct {
	mu        sync.Mutex
	want      int
	committed map[string]time.Time
	applied   map[string]time.Time
	repeats   int       // effects committed again for an id already applied
	last      time.Time // when the want-th effect committed
	done      chan struct{}
}

func newBenchTracker(want int) *benchTracker {
	return &benchTracker{
		want: want, committed: make(map[string]time.Time, want), applied: make(map[string]time.Time, want),
		done: make(chan struct{}),
	}
}

func (t *benchTracker) commit(ids []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		t.committed[id] = at
	}
}

func (t *benchTracker) apply(ids []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		if _, ok := t.applied[id]; ok {
			t.repeats++
			continue
		}
		t.applied[id] = at
		if len(t.applied) == t.want {
			t.last = at
			close(t.done)
		}
	}
}

func (t *benchTracker) progress() (committed, applied int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.committed), len(t.applied)
}

// latencies returns, for every applied event, effect commit minus business commit.
func (t *benchTracker) latencies() []time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	lat := make([]time.Duration, 0, len(t.applied))
	for id, at := range t.applied {
		if c, ok := t.committed[id]; ok {
			lat = append(lat, at.Sub(c))
		}
	}
	return lat
}

// benchNewStore opens a Store on the schema for the orders workload, wrapped, with a connection
// already open so that connecting is not timed.
func benchNewStore(b *testing.B, ctx context.Context, inf Infra, s *pg.Schema, onCommit func([]string, time.Time)) benchStore {
	b.Helper()
	st, err := pg.NewStore(ctx, inf.PostgresURL, s.Name, "orders")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	tx, err := st.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	_ = tx.Rollback(ctx)
	return benchStore{Store: st, onCommit: onCommit}
}

func benchNewPublisher(b *testing.B, ctx context.Context, inf Infra, q *amqp.Queue) *amqp.Publisher {
	b.Helper()
	p, err := amqp.NewPublisher(ctx, inf.AMQPURL, q.Name, benchConfirmWait)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = p.Close() })
	if err := p.Connect(ctx); err != nil {
		b.Fatal(err)
	}
	return p
}

// benchConsumers starts benchNConsumers goroutines running c.Handle on deliveries of q until ctx
// ends; each has its own Store (reporting effect commits to tr) and Subscription. It returns once
// every consumer is connected (its first Next returned); they handle nothing before gate closes.
// wait waits for them to stop.
func benchConsumers(b *testing.B, ctx context.Context, inf Infra, s *pg.Schema, q *amqp.Queue, c strategies.Consumer,
	tr *benchTracker, errs *benchFirstErr, gate <-chan struct{}) (wait func()) {
	b.Helper()
	var ready, wg sync.WaitGroup
	for range benchNConsumers {
		st := benchNewStore(b, ctx, inf, s, tr.apply)
		sub, err := amqp.NewSubscription(ctx, inf.AMQPURL, q.Name, benchPrefetch, benchIdle)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sub.Close() })
		env := strategies.ConsumerEnv{Group: benchGroup, Store: st, Sub: sub, Faults: benchFaults{}, Clock: Clock{}}
		ready.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for ctx.Err() == nil {
				d, err := sub.Next(ctx)
				if first {
					// The first Next opened the connection (and found the queue empty, or not).
					first = false
					ready.Done()
					select {
					case <-gate:
					case <-ctx.Done():
					}
				}
				if errors.Is(err, strategies.ErrIdle) {
					continue
				}
				if err == nil {
					err = c.Handle(ctx, env, d)
				}
				if err != nil && ctx.Err() == nil {
					errs.set(err)
					return
				}
			}
			if first {
				ready.Done()
			}
		}()
	}
	ready.Wait()
	return wg.Wait
}

// benchAwait waits for tr to see every effect, an error or the deadline.
func benchAwait(ctx context.Context, tr *benchTracker, errs *benchFirstErr) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tr.done:
			return nil
		case <-ctx.Done():
			c, a := tr.progress()
			return fmt.Errorf("stalled: %d of %d effects, %d business commits, after %v", a, tr.want, c, benchDeadline)
		case <-tick.C:
			if err := errs.get(); err != nil {
				return err
			}
		}
	}
}

// benchProducerEnvs makes benchNProducers producer environments, each with its own Store
// (reporting business commits to onCommit) and, for a producer without a relay, its own Publisher.
func benchProducerEnvs(b *testing.B, ctx context.Context, inf Infra, s *pg.Schema, q *amqp.Queue, p strategies.Producer,
	onCommit func([]string, time.Time)) []strategies.ProducerEnv {
	b.Helper()
	envs := make([]strategies.ProducerEnv, benchNProducers)
	for i := range envs {
		envs[i] = strategies.ProducerEnv{Store: benchNewStore(b, ctx, inf, s, onCommit), Faults: benchFaults{}, Clock: Clock{}}
		if _, ok := p.(strategies.Relay); !ok {
			envs[i].Publisher = benchNewPublisher(b, ctx, inf, q)
		}
	}
	return envs
}

// runProducers runs p.Produce for events 0 to n-1, one goroutine per environment taking the
// next event; rate > 0 paces them (event i not before start + i/rate). It returns when every
// event is produced or one Produce failed (errs), with each Produce call's duration.
func runProducers(ctx context.Context, p strategies.Producer, envs []strategies.ProducerEnv, n int, rate float64,
	start time.Time, errs *benchFirstErr) []time.Duration {
	lats := make([][]time.Duration, len(envs))
	pacedLoops(ctx, len(envs), n, rate, start, errs, func(g, i int) error {
		t0 := time.Now()
		if err := p.Produce(ctx, envs[g], benchOrder("order-", i)); err != nil {
			return err
		}
		lats[g] = append(lats[g], time.Since(t0))
		return nil
	})
	return slices.Concat(lats...)
}

// pacedLoops runs do(g, i) for i from 0 to n-1 on loops goroutines (g is the goroutine's index),
// each taking the next i; rate > 0 paces them (i not before start + i/rate). It returns when
// every i is done or a call failed (errs, unless ctx ended), which stops its goroutine.
func pacedLoops(ctx context.Context, loops, n int, rate float64, start time.Time, errs *benchFirstErr, do func(g, i int) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for g := range loops {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if rate > 0 {
					Clock{}.Sleep(ctx, time.Until(start.Add(time.Duration(float64(i)/rate*float64(time.Second)))))
				}
				if err := do(g, i); err != nil {
					if ctx.Err() == nil {
						errs.set(err)
					}
					return
				}
			}
		})
	}
	wg.Wait()
}
