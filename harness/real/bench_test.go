package real

// Benchmarks on the real servers, in-process (no worker processes, no faults). Each benchmark
// skips without servers (Require), makes its own schema and queue and removes them afterwards.
//
// They run in this file's order, ceilings first, so that the later ones can report their figure
// as a ratio to a ceiling measured in the same run (metrics named "of-..."):
//
//   - BenchmarkCeilingPostgresCommits: BEGIN/INSERT/COMMIT on raw pgx connections, 1 and 8 at
//     once, direct and through an in-process Toxiproxy proxy.
//   - BenchmarkCeilingRabbitPublish: persistent publishes with confirms on a raw amqp091 channel,
//     one at a time and with 256 confirms outstanding, direct and through Toxiproxy; and, to
//     place the relay, 256 published then 256 awaited, raw and through this package's Publisher.
//   - BenchmarkProducer: eight producers of a strategy, alone.
//   - BenchmarkRelayDrain: the outbox relay (Outbox.RelayPass) draining a backlog of committed rows.
//   - BenchmarkConsumerDrain: four consumers of a strategy draining a filled queue.
//   - BenchmarkPipeline: producer strategy, relay and consumer strategy together, from the
//     business commit to the committed effect, at full speed: throughput (and latency, which
//     then includes the backlog).
//   - BenchmarkPipelineLatency: the same pipelines paced at 500 events/s: latency.
//   - BenchmarkLogTailing: the log-tailing relay (a replication slot) next to the polling outbox
//     relay at several polling intervals: msg/s and the lag from COMMIT to publisher confirm.
//
// Every benchmark also reports the machine's CPU time per event (all processes, PostgreSQL and
// RabbitMQ included), the part of it this process used, and how busy the cores were.
//
// Run them with
//
//	HARNESS_REQUIRE_INFRA=1 go test ./harness/real/ -run '^$' -bench . -benchtime 1x -count 1
//
// Sizes scale with b.N; with -benchtime 1x the whole set takes under two minutes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

const (
	benchDeadline    = 60 * time.Second // a benchmark that has not finished by then fails
	benchSetup       = 30 * time.Second // creating or removing a schema or queue
	benchWindow      = 256              // confirms outstanding in the pipelined publish ceiling
	benchNProducers  = 8                // producer goroutines of a pipeline, each with its own Store
	benchNConsumers  = 4                // consumer goroutines, each with its own Store and Subscription
	benchPrefetch    = 100              // prefetch of each consumer
	benchRelayBatch  = 256              // rows the pipeline's relay claims per pass
	benchRelayPoll   = 2 * time.Millisecond
	benchIdle        = 20 * time.Millisecond // a consumer's wait for a delivery before it looks again
	benchConfirmWait = 10 * time.Second      // the adapter Publisher's confirm timeout
	benchGroup       = "bench"               // the consumers' group (inbox key)
)

// Ceilings measured earlier in this process, by name.
const (
	ceilPG1          = "pg-1conn"
	ceilPG8          = "pg-8conn"
	ceilPubSingle    = "pub-single"
	ceilPubWindow    = "pub-window"    // 256 confirms outstanding, a sliding window
	ceilPubBatch     = "pub-batch"     // 256 published, then their 256 confirms awaited
	ceilPubPipelined = "pub-pipelined" // the better of the two
)

var benchCeilings = struct {
	sync.Mutex
	rate map[string]float64
}{rate: map[string]float64{}}

func setCeiling(name string, rate float64) {
	benchCeilings.Lock()
	defer benchCeilings.Unlock()
	benchCeilings.rate[name] = rate
}

// raiseCeiling sets the named ceiling to rate unless this run measured a higher one.
func raiseCeiling(name string, rate float64) {
	benchCeilings.Lock()
	defer benchCeilings.Unlock()
	benchCeilings.rate[name] = max(benchCeilings.rate[name], rate)
}

// reportOf reports rate as a ratio to the named ceiling, as metric "of-<name>", when that
// ceiling was measured earlier in this run.
func reportOf(b *testing.B, rate float64, name string) {
	benchCeilings.Lock()
	c, ok := benchCeilings.rate[name]
	benchCeilings.Unlock()
	if ok && c > 0 {
		b.ReportMetric(rate/c, "of-"+name)
	}
}

// reportRate reports events/s and hides ns/op, which means nothing here.
func reportRate(b *testing.B, n int, elapsed time.Duration) float64 {
	rate := float64(n) / elapsed.Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(0, "ns/op")
	return rate
}

// reportLatency reports the median and the 99th percentile of lat, in milliseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		return float64(lat[max(i, 0)]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// cpuMeter reads the machine's CPU time (all processes: this one, PostgreSQL, RabbitMQ) from
// /proc/stat, to report what a benchmark cost per event and how busy the cores were.
type cpuMeter struct {
	busy, steal, total int64         // clock ticks of the whole machine
	self               time.Duration // CPU time of this process (the harness: strategies, adapters, drivers)
	ok                 bool
}

func cpuNow() cpuMeter {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuMeter{}
	}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuMeter{}
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuMeter{}
	}
	m := cpuMeter{self: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
	for i, v := range f[1:9] { // user nice system idle iowait irq softirq steal
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cpuMeter{}
		}
		m.total += n
		switch i {
		case 3, 4: // idle, iowait
		case 7:
			m.steal += n
		default:
			m.busy += n
		}
	}
	m.ok = true
	return m
}

// report reports the machine's CPU time used since m per event ("cpu-us/event", at 100 ticks a
// second), the part of it this process used ("go-cpu-us/event"; the rest is the servers'), the
// share of all cores that was busy ("cpu-busy") and the share the hypervisor gave to other
// machines ("cpu-steal": a noisy neighbour).
func (m cpuMeter) report(b *testing.B, n int) {
	now := cpuNow()
	if !m.ok || !now.ok || now.total <= m.total || n == 0 {
		return
	}
	busy := now.busy - m.busy
	b.ReportMetric(float64(busy)*1e4/float64(n), "cpu-us/event")
	b.ReportMetric(float64(now.self-m.self)/float64(time.Microsecond)/float64(n), "go-cpu-us/event")
	b.ReportMetric(float64(busy)/float64(now.total-m.total), "cpu-busy")
	b.ReportMetric(float64(now.steal-m.steal)/float64(now.total-m.total), "cpu-steal")
}

// benchSamples is how many times a direct ceiling is measured; the best sample is the ceiling.
const benchSamples = 3

// bestOf runs measure samples times (samples is 1 or more) and returns the sample with the
// highest rate; it reports the spread, the lowest rate over the highest, as "spread" when there
// was more than one sample.
func bestOf(b *testing.B, samples int, measure func() (rate float64, lat []time.Duration, err error)) (float64, []time.Duration) {
	b.Helper()
	best, worst := 0.0, math.Inf(1)
	var bestLat []time.Duration
	for range samples {
		rate, lat, err := measure()
		if err != nil {
			b.Fatal(err)
		}
		if rate > best {
			best, bestLat = rate, lat
		}
		worst = min(worst, rate)
	}
	if samples > 1 {
		b.ReportMetric(worst/best, "spread")
	}
	return best, bestLat
}

// benchCtx bounds a benchmark: past benchDeadline everything it started gives up.
func benchCtx(b *testing.B) context.Context {
	ctx, cancel := context.WithTimeout(b.Context(), benchDeadline)
	b.Cleanup(cancel)
	return ctx
}

// benchSchema creates a schema for this benchmark and drops it afterwards.
func benchSchema(b *testing.B, inf Infra, runID string) *pg.Schema {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchSetup)
	defer cancel()
	s, err := pg.CreateSchema(ctx, inf.PostgresURL, runID)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), benchSetup)
		defer cancel()
		if err := s.Drop(ctx); err != nil {
			b.Errorf("drop schema: %v", err)
		}
	})
	return s
}

// benchQueue declares a queue for this benchmark and deletes it afterwards.
func benchQueue(b *testing.B, inf Infra, runID string) *amqp.Queue {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), benchSetup)
	defer cancel()
	q, err := amqp.DeclareQueue(ctx, inf.AMQPURL, runID)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), benchSetup)
		defer cancel()
		if err := q.Delete(ctx); err != nil {
			b.Errorf("delete queue: %v", err)
		}
		_ = q.Close()
	})
	return q
}

// benchProxy starts an in-process Toxiproxy proxy (no toxics) in front of rawURL and returns the
// URL through it.
func benchProxy(b *testing.B, name, rawURL string) string {
	b.Helper()
	ps := newProxies()
	b.Cleanup(ps.close)
	u, err := ps.add(name, rawURL)
	if err != nil {
		b.Fatal(err)
	}
	return u
}

func benchOrder(prefix string, i int) history.Message {
	id := fmt.Sprintf("%s%07d", prefix, i)
	return history.Message{ID: id, Key: id, Amount: 10, Kind: "OrderPlaced"}
}

// benchFirstErr keeps the first error of many goroutines.
type benchFirstErr struct {
	mu  sync.Mutex
	err error
}

func (f *benchFirstErr) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

func (f *benchFirstErr) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// ---------------------------------------------------------------------------------------------
// Ceilings

// BenchmarkCeilingPostgresCommits: single-row BEGIN/INSERT/COMMIT transactions on raw pgx
// connections, one per goroutine, into the schema's business table; direct and through Toxiproxy.
func BenchmarkCeilingPostgresCommits(b *testing.B) {
	for _, conns := range []int{1, 8} {
		for _, via := range []string{"direct", "toxiproxy"} {
			b.Run(fmt.Sprintf("conns=%d/%s", conns, via), func(b *testing.B) {
				inf := realtest.Require(b)
				runID := NewRunID()
				s := benchSchema(b, inf, runID)
				url := inf.PostgresURL
				if via == "toxiproxy" {
					url = benchProxy(b, "bench-pg-"+runID, url)
				}
				n := conns * 1000 * b.N
				if conns == 1 {
					n = 2000 * b.N
				}
				samples := 1
				if via == "direct" {
					samples = benchSamples
				}
				ctx := benchCtx(b)
				cpu := cpuNow()
				done := 0
				rate, lat := bestOf(b, samples, func() (float64, []time.Duration, error) {
					elapsed, lat, err := rawCommits(ctx, url, s.Name, conns, n, done)
					done += n
					return float64(n) / elapsed.Seconds(), lat, err
				})
				cpu.report(b, done)
				b.ReportMetric(rate, "events/s")
				b.ReportMetric(0, "ns/op")
				reportLatency(b, lat)
				name := map[int]string{1: ceilPG1, 8: ceilPG8}[conns]
				if via == "direct" {
					setCeiling(name, rate)
				} else {
					reportOf(b, rate, name)
				}
			})
		}
	}
}

// rawCommits runs n single-row transactions over conns connections, for events first to
// first+n-1, and returns the time from the first BEGIN to the last COMMIT and each transaction's
// latency.
func rawCommits(ctx context.Context, url, schema string, conns, n, first int) (time.Duration, []time.Duration, error) {
	cs := make([]*pgx.Conn, conns)
	defer func() {
		for _, c := range cs {
			if c != nil {
				_ = c.Close(context.Background())
			}
		}
	}()
	for i := range cs {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			return 0, nil, fmt.Errorf("connect: %w", err)
		}
		cs[i] = c
	}
	insert := `INSERT INTO ` + pgx.Identifier{schema, "business"}.Sanitize() +
		` (id, key, amount, version, kind) VALUES ($1, $2, $3, $4, $5)`
	var next atomic.Int64
	var errs benchFirstErr
	lats := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	start := time.Now()
	for g, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				m := benchOrder("raw-", first+i)
				t0 := time.Now()
				err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, insert, m.ID, m.Key, m.Amount, m.Seq, m.Kind)
					return err
				})
				if err != nil {
					errs.set(fmt.Errorf("commit %s: %w", m.ID, err))
					return
				}
				lats[g] = append(lats[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errs.get(); err != nil {
		return 0, nil, err
	}
	if err := ctx.Err(); err != nil {
		return 0, nil, fmt.Errorf("%d commits not done within %v: %w", n, benchDeadline, err)
	}
	return elapsed, slices.Concat(lats...), nil
}

// BenchmarkCeilingRabbitPublish: persistent JSON messages to the queue on a raw amqp091 confirm
// channel: one at a time (publish, wait for its confirm), with 256 confirms outstanding (a
// sliding window), both direct and through Toxiproxy; then the relay's shape without the
// database, 256 published and then the 256 confirms awaited, on a raw channel and through this
// package's Publisher.
func BenchmarkCeilingRabbitPublish(b *testing.B) {
	cases := []struct {
		name    string
		n       int
		window  int
		batch   bool // publish window messages, then wait for all their confirms
		adapter bool // through Publisher instead of a raw channel
		proxy   bool
		sets    string // the ceiling this case measures
		of      string // the ceiling it is compared with
	}{
		{name: "single/direct", n: 1500, window: 1, sets: ceilPubSingle},
		{name: "single/toxiproxy", n: 1500, window: 1, proxy: true, of: ceilPubSingle},
		{name: "window-256/direct", n: 15000, window: benchWindow, sets: ceilPubWindow},
		{name: "window-256/toxiproxy", n: 15000, window: benchWindow, proxy: true, of: ceilPubWindow},
		{name: "batch-256/direct", n: 15000, window: benchWindow, batch: true, sets: ceilPubBatch},
		{name: "batch-256/publisher", n: 15000, window: benchWindow, batch: true, adapter: true, of: ceilPubBatch},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			inf := realtest.Require(b)
			runID := NewRunID()
			q := benchQueue(b, inf, runID)
			url := inf.AMQPURL
			if tc.proxy {
				url = benchProxy(b, "bench-mq-"+runID, url)
			}
			ctx := benchCtx(b)
			n := tc.n * b.N
			samples := 1
			if tc.sets != "" {
				samples = benchSamples
			}
			cpu := cpuNow()
			rate, lat := bestOf(b, samples, func() (float64, []time.Duration, error) {
				var elapsed time.Duration
				var lat []time.Duration
				var err error
				if tc.adapter {
					elapsed, err = adapterPublish(ctx, url, q.Name, n, tc.window)
				} else {
					elapsed, lat, err = rawPublish(ctx, url, q.Name, n, tc.window, tc.batch)
				}
				return float64(n) / elapsed.Seconds(), lat, err
			})
			cpu.report(b, samples*n)
			if depth, err := q.Depth(ctx); err != nil || depth != samples*n {
				b.Fatalf("queue holds %d messages after %d confirmed publishes (%v)", depth, samples*n, err)
			}
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(0, "ns/op")
			if tc.window == 1 {
				reportLatency(b, lat)
			}
			if tc.sets != "" {
				setCeiling(tc.sets, rate)
				if tc.window > 1 {
					raiseCeiling(ceilPubPipelined, rate)
				}
			}
			if tc.of != "" {
				reportOf(b, rate, tc.of)
			}
		})
	}
}

// urlPassword is the password in a URL's user information ("" for none).
func urlPassword(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	p, _ := u.User.Password()
	return p
}

// benchDial opens a raw AMQP connection that ctx's end closes, with the adapter's heartbeat and
// dial timeout.
func benchDial(ctx context.Context, url string) (*amqp091.Connection, *amqp091.Channel, func(), error) {
	conn, err := amqp091.DialConfig(url, amqp091.Config{Heartbeat: 2 * time.Second, Locale: "en_US", Dial: amqp091.DefaultDial(5 * time.Second)})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("dial: %w", redact.Error(err, urlPassword(url)))
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.CloseDeadline(time.Now()) })
	done := func() { stop(); _ = conn.CloseDeadline(time.Now().Add(2 * time.Second)) }
	ch, err := conn.Channel()
	if err != nil {
		done()
		return nil, nil, nil, fmt.Errorf("channel: %w", err)
	}
	return conn, ch, done, nil
}

// rawPublish publishes n messages on a raw confirm channel, with up to window confirms
// outstanding: a sliding window, or (batch) window messages and then all their confirms. It
// returns the time from the first publish to the last confirm and, with window 1, each publish's
// latency to its confirm.
func rawPublish(ctx context.Context, url, queue string, n, window int, batch bool) (time.Duration, []time.Duration, error) {
	_, ch, done, err := benchDial(ctx, url)
	if err != nil {
		return 0, nil, err
	}
	defer done()
	if err := ch.Confirm(false); err != nil {
		return 0, nil, fmt.Errorf("confirm mode: %w", err)
	}
	bodies := make([][]byte, n)
	ids := make([]string, n)
	for i := range bodies {
		m := benchOrder("pub-", i)
		ids[i] = m.ID
		if bodies[i], err = json.Marshal(m); err != nil {
			return 0, nil, err
		}
	}
	var lat []time.Duration
	pending := make([]*amqp091.DeferredConfirmation, 0, window)
	sent := make([]time.Time, 0, window)
	wait := func(k int) error { // wait for the k oldest confirms
		for j := range k {
			ok, err := pending[j].WaitContext(ctx)
			if err != nil {
				return fmt.Errorf("confirm: %w", err)
			}
			if !ok {
				return errors.New("confirm: nacked")
			}
			if window == 1 {
				lat = append(lat, time.Since(sent[j]))
			}
		}
		pending, sent = pending[:copy(pending, pending[k:])], sent[:copy(sent, sent[k:])]
		return nil
	}
	start := time.Now()
	for i := range n {
		if len(pending) == window {
			k := 1
			if batch {
				k = window
			}
			if err := wait(k); err != nil {
				return 0, nil, err
			}
		}
		t0 := time.Now()
		dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, false, false, amqp091.Publishing{
			DeliveryMode: amqp091.Persistent,
			MessageId:    ids[i],
			ContentType:  "application/json",
			Body:         bodies[i],
		})
		if err != nil {
			return 0, nil, fmt.Errorf("publish: %w", err)
		}
		pending, sent = append(pending, dc), append(sent, t0)
	}
	if err := wait(len(pending)); err != nil {
		return 0, nil, err
	}
	return time.Since(start), lat, nil
}

// adapterPublish publishes n messages through Publisher in batches: batch publishes, then the
// batch's confirms, as RelayPass does.
func adapterPublish(ctx context.Context, url, queue string, n, batch int) (time.Duration, error) {
	p, err := amqp.NewPublisher(ctx, url, queue, benchConfirmWait)
	if err != nil {
		return 0, err
	}
	defer func() { _ = p.Close() }()
	if err := p.Connect(ctx); err != nil {
		return 0, err
	}
	start := time.Now()
	confs := make([]strategies.Confirmation, 0, batch)
	for i := 0; i < n; i += batch {
		confs = confs[:0]
		for j := i; j < min(i+batch, n); j++ {
			c, err := p.Publish(ctx, benchOrder("pub-", j))
			if err != nil {
				return 0, err
			}
			confs = append(confs, c)
		}
		for _, c := range confs {
			if err := c.Wait(ctx); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

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
	var next atomic.Int64
	var wg sync.WaitGroup
	lats := make([][]time.Duration, len(envs))
	for g, env := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if rate > 0 {
					Clock{}.Sleep(ctx, time.Until(start.Add(time.Duration(float64(i)/rate*float64(time.Second)))))
				}
				t0 := time.Now()
				if err := p.Produce(ctx, env, benchOrder("order-", i)); err != nil {
					if ctx.Err() == nil {
						errs.set(err)
					}
					return
				}
				lats[g] = append(lats[g], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	return slices.Concat(lats...)
}

// ---------------------------------------------------------------------------------------------
// Producers

// BenchmarkProducer: a producer strategy alone, eight goroutines (each its own Store, and for
// double-write its own Publisher) running Produce for n events as fast as they can; no relay, no
// consumer. Latency is the Produce call's. Compared with the 8-connection commit ceiling.
func BenchmarkProducer(b *testing.B) {
	for _, p := range []strategies.Producer{strategies.DoubleWrite{}, strategies.Outbox{}} {
		b.Run(p.Name(), func(b *testing.B) {
			inf := realtest.Require(b)
			runID := NewRunID()
			s := benchSchema(b, inf, runID)
			q := benchQueue(b, inf, runID)
			ctx := benchCtx(b)
			n := 4000 * b.N
			envs := benchProducerEnvs(b, ctx, inf, s, q, p, nil)
			var errs benchFirstErr
			cpu := cpuNow()
			start := time.Now()
			lat := runProducers(ctx, p, envs, n, 0, start, &errs)
			elapsed := time.Since(start)
			cpu.report(b, n)
			if err := errs.get(); err != nil {
				b.Fatal(err)
			}
			if err := ctx.Err(); err != nil {
				b.Fatalf("%d of %d events produced within %v", len(lat), n, benchDeadline)
			}
			rate := reportRate(b, n, elapsed)
			reportLatency(b, lat)
			reportOf(b, rate, ceilPG8)
		})
	}
}

// ---------------------------------------------------------------------------------------------
// Relay

// BenchmarkRelayDrain: the outbox relay draining a backlog. The outbox is filled with committed
// rows first (one INSERT ... SELECT); then one relay (its own Store and Publisher) loops
// Outbox.RelayPass until every row is published and marked. Compared with the pipelined publish
// ceiling; %claim, %publish, %confirm and %mark say where the relay's time went.
func BenchmarkRelayDrain(b *testing.B) {
	for _, batch := range []int{100, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			inf := realtest.Require(b)
			runID := NewRunID()
			s := benchSchema(b, inf, runID)
			q := benchQueue(b, inf, runID)
			ctx := benchCtx(b)
			n := 20000 * b.N
			fillOutbox(b, ctx, inf, s, n)
			probe := &relayProbe{}
			st := benchNewStore(b, ctx, inf, s, nil)
			st.probe = probe
			pub := benchNewPublisher(b, ctx, inf, q)
			env := strategies.RelayEnv{
				Store: st, Publisher: probedPublisher{pub, probe}, Faults: benchFaults{}, Clock: Clock{}, Batch: batch,
			}
			cpu := cpuNow()
			start := time.Now()
			done := 0
			for done < n {
				k, err := strategies.Outbox{}.RelayPass(ctx, env)
				if err != nil {
					b.Fatal(err)
				}
				if k == 0 {
					b.Fatalf("relay found nothing to publish after %d of %d rows", done, n)
				}
				done += k
			}
			elapsed := time.Since(start)
			cpu.report(b, n)
			if depth, err := q.Depth(ctx); err != nil || depth != n {
				b.Fatalf("queue holds %d messages after relaying %d rows (%v)", depth, n, err)
			}
			rate := reportRate(b, n, elapsed)
			reportOf(b, rate, ceilPubPipelined)
			probe.report(b, elapsed)
		})
	}
}

// fillOutbox commits n unpublished outbox rows (and their business rows) in one transaction.
func fillOutbox(b *testing.B, ctx context.Context, inf Infra, s *pg.Schema, n int) {
	b.Helper()
	conn, err := pgx.Connect(ctx, inf.PostgresURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(context.Background())
	tab := func(t string) string { return pgx.Identifier{s.Name, t}.Sanitize() }
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		ids := `SELECT 'order-' || lpad(i::text, 7, '0') AS id FROM generate_series(0, $1 - 1) AS i`
		if _, err := tx.Exec(ctx, `INSERT INTO `+tab("business")+` (id, key, amount, version, kind)
			SELECT id, id, 10, 0, 'OrderPlaced' FROM (`+ids+`) g`, n); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO `+tab("outbox")+` (msg_id, key, amount, version, kind)
			SELECT id, id, 10, 0, 'OrderPlaced' FROM (`+ids+`) g ORDER BY id`, n)
		return err
	})
	if err != nil {
		b.Fatalf("fill outbox: %v", err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE `+tab("outbox")); err != nil {
		b.Fatalf("fill outbox: %v", err)
	}
}

// ---------------------------------------------------------------------------------------------
// Consumers

// benchConsumerStrategies are the consumer strategies measured.
var benchConsumerStrategies = []strategies.Consumer{strategies.Naive{}, strategies.Inbox{}, strategies.Natural{}}

// BenchmarkConsumerDrain: a queue filled with n messages (raw, pipelined confirms), then four
// consumers of the strategy (prefetch 100, each its own Store) drain it; events/s from the start
// to the n-th committed effect. Compared with the 8-connection commit ceiling.
func BenchmarkConsumerDrain(b *testing.B) {
	for _, c := range benchConsumerStrategies {
		b.Run(c.Name(), func(b *testing.B) {
			inf := realtest.Require(b)
			runID := NewRunID()
			s := benchSchema(b, inf, runID)
			q := benchQueue(b, inf, runID)
			ctx, cancel := context.WithCancel(benchCtx(b))
			defer cancel()
			n := 6000 * b.N
			if _, _, err := rawPublish(ctx, inf.AMQPURL, q.Name, n, benchWindow, false); err != nil {
				b.Fatal(err)
			}
			tr := newBenchTracker(n)
			var errs benchFirstErr
			gate := make(chan struct{})
			wait := benchConsumers(b, ctx, inf, s, q, c, tr, &errs, gate)
			cpu := cpuNow()
			start := time.Now()
			close(gate)
			err := benchAwait(ctx, tr, &errs)
			cpu.report(b, n)
			cancel()
			wait()
			if err != nil {
				b.Fatal(err)
			}
			rate := reportRate(b, n, tr.last.Sub(start))
			reportOf(b, rate, ceilPG8)
			if tr.repeats > 0 {
				b.Logf("%d effects committed again", tr.repeats)
			}
		})
	}
}

// ---------------------------------------------------------------------------------------------
// Pipelines

// BenchmarkPipeline: a producer strategy and a consumer strategy end to end at full speed,
// orders workload. Eight producer goroutines (each its own Store, and for double-write its own
// Publisher) run Produce for n events as fast as they can; for the outbox one relay goroutine
// loops RelayPass (batch 256, its own Store and Publisher; a 2 ms pause when it finds nothing);
// four consumers (prefetch 100, each its own Store) run Handle. events/s is n over the time from
// the start to the n-th committed effect; of-pg-8conn compares it with the commit ceiling;
// produce-events/s is n over the time the producers took. Latency is, per event, the effect's
// COMMIT return minus the business COMMIT return: at full speed it includes the backlog that
// builds up when producers outpace the consumers (BenchmarkPipelineLatency paces them).
func BenchmarkPipeline(b *testing.B) {
	for _, p := range []strategies.Producer{strategies.DoubleWrite{}, strategies.Outbox{}} {
		for _, c := range benchConsumerStrategies {
			b.Run(p.Name()+"/"+c.Name(), func(b *testing.B) { benchPipeline(b, p, c, 3000*b.N, 0) })
		}
	}
}

// benchPacedRate is the offered load of BenchmarkPipelineLatency: about half of the slowest
// pipeline's full speed on a 2-core machine.
const benchPacedRate = 500

// BenchmarkPipelineLatency: the pipelines of BenchmarkPipeline with the producers paced at 500
// events/s (event i is not produced before i/500 s), below every pipeline's full speed, so that
// p50-ms and p99-ms are the time an event takes through it rather than the backlog.
func BenchmarkPipelineLatency(b *testing.B) {
	for _, p := range []strategies.Producer{strategies.DoubleWrite{}, strategies.Outbox{}} {
		for _, c := range benchConsumerStrategies {
			b.Run(p.Name()+"/"+c.Name(), func(b *testing.B) { benchPipeline(b, p, c, 1500*b.N, benchPacedRate) })
		}
	}
}

// benchPipeline runs n events through producer p and consumer c; rate > 0 paces the producers.
func benchPipeline(b *testing.B, p strategies.Producer, c strategies.Consumer, n int, rate float64) {
	inf := realtest.Require(b)
	runID := NewRunID()
	s := benchSchema(b, inf, runID)
	q := benchQueue(b, inf, runID)
	ctx, cancel := context.WithCancel(benchCtx(b))
	defer cancel()
	tr := newBenchTracker(n)
	var errs benchFirstErr
	var bg sync.WaitGroup // the relay

	gate := make(chan struct{})
	close(gate)
	wait := benchConsumers(b, ctx, inf, s, q, c, tr, &errs, gate)
	relay, hasRelay := p.(strategies.Relay)
	probe := &relayProbe{}
	var passes atomic.Int64 // relay passes that published rows
	if hasRelay {
		st := benchNewStore(b, ctx, inf, s, nil)
		st.probe = probe
		env := strategies.RelayEnv{
			Store: st, Publisher: probedPublisher{benchNewPublisher(b, ctx, inf, q), probe},
			Faults: benchFaults{}, Clock: Clock{}, Batch: benchRelayBatch,
		}
		bg.Add(1)
		go func() {
			defer bg.Done()
			benchRelayLoop(ctx, relay, env, benchRelayPoll, &passes, nil, &errs)
		}()
	}
	envs := benchProducerEnvs(b, ctx, inf, s, q, p, tr.commit)
	cpu := cpuNow()
	start := time.Now()
	runProducers(ctx, p, envs, n, rate, start, &errs)
	produced := time.Since(start)
	err := benchAwait(ctx, tr, &errs)
	cpu.report(b, n)
	cancel()
	bg.Wait()
	wait()
	if err != nil {
		b.Fatal(err)
	}
	got := reportRate(b, n, tr.last.Sub(start))
	reportLatency(b, tr.latencies())
	if rate == 0 {
		reportOf(b, got, ceilPG8)
		b.ReportMetric(float64(n)/produced.Seconds(), "produce-events/s")
	}
	if hasRelay && passes.Load() > 0 {
		// The relay's claims (BEGIN and the SKIP LOCKED select, empty passes included) per event.
		b.ReportMetric(float64(passes.Load()), "relay-passes")
		b.ReportMetric(float64(probe.claim.Load())/float64(time.Microsecond)/float64(n), "claim-us/event")
	}
	if tr.repeats > 0 {
		b.Logf("%d effects committed again", tr.repeats)
	}
}

// ---------------------------------------------------------------------------------------------
// Log tailing

// benchTailPolls are the relays' pauses after a pass that found nothing.
var benchTailPolls = []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond}

// BenchmarkLogTailing: the log-tailing producer next to the polling outbox relay, each at
// several polling intervals. Eight producer goroutines (each its own Store) run Produce for n
// events; one relay goroutine loops RelayPass (batch 256, its own Publisher; for log tailing a
// LogReader on the run's replication slot, for the outbox its own Store) and pauses poll after a
// pass that published nothing. No consumer: lag is, per message, the return of the relay's
// publisher confirm minus the return of the producer's COMMIT. msg/s is n over the time from the
// start to the n-th confirm. "full" runs the producers as fast as they go (lag then includes the
// backlog); "paced" offers 500 events/s (event i not before i/500 s), so that p50-ms and p99-ms
// are the relay's own lag.
//
//	HARNESS_REQUIRE_INFRA=1 go test ./harness/real/ -run '^$' -bench LogTailing -benchtime 1x
func BenchmarkLogTailing(b *testing.B) {
	for _, load := range []struct {
		name string
		n    int
		rate float64
	}{{"full", 3000, 0}, {"paced", 1500, benchPacedRate}} {
		for _, poll := range benchTailPolls {
			for _, p := range []strategies.Producer{strategies.LogTailing{}, strategies.Outbox{}} {
				b.Run(fmt.Sprintf("%s/%s/poll=%v", load.name, p.Name(), poll), func(b *testing.B) {
					benchTail(b, p, poll, load.n*b.N, load.rate)
				})
			}
		}
	}
}

// confirmTimer reports, for every message whose publisher confirm came, when its Wait returned.
type confirmTimer struct {
	strategies.Publisher
	onConfirm func(ids []string, at time.Time)
}

func (p confirmTimer) Publish(ctx context.Context, m history.Message) (strategies.Confirmation, error) {
	c, err := p.Publisher.Publish(ctx, m)
	if err != nil {
		return nil, err
	}
	return timedConfirmation{c, m.ID, p.onConfirm}, nil
}

type timedConfirmation struct {
	strategies.Confirmation
	id        string
	onConfirm func(ids []string, at time.Time)
}

func (c timedConfirmation) Wait(ctx context.Context) error {
	err := c.Confirmation.Wait(ctx)
	if err == nil {
		c.onConfirm([]string{c.id}, time.Now())
	}
	return err
}

// benchTail runs n events through producer p and its relay, which pauses poll when it finds
// nothing; rate > 0 paces the producers. The tracker's "effects" are the publisher confirms.
func benchTail(b *testing.B, p strategies.Producer, poll time.Duration, n int, rate float64) {
	inf := realtest.Require(b)
	tails := strategies.TailsLog(p)
	if tails {
		realtest.RequireLogicalWAL(b, inf)
	}
	runID := NewRunID()
	s := benchSchema(b, inf, runID)
	q := benchQueue(b, inf, runID)
	ctx, cancel := context.WithCancel(benchCtx(b))
	defer cancel()
	relay := p.(strategies.Relay)
	tr := newBenchTracker(n)
	var errs benchFirstErr
	env := strategies.RelayEnv{
		Publisher: confirmTimer{benchNewPublisher(b, ctx, inf, q), tr.apply},
		Faults:    benchFaults{}, Clock: Clock{}, Batch: benchRelayBatch,
	}
	if tails {
		sctx, scancel := context.WithTimeout(context.Background(), benchSetup)
		slot, err := pg.CreateSlot(sctx, inf.PostgresURL, s.Name)
		scancel()
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			if err := slot.Drop(context.Background()); err != nil {
				b.Errorf("drop slot: %v", err)
			}
		})
		lr, err := pg.NewLogReader(ctx, inf.PostgresURL, s.Name, slot.Name)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(lr.Close)
		if _, err := lr.Read(ctx, 1); err != nil { // open its connection
			b.Fatal(err)
		}
		env.Log = lr
	} else {
		env.Store = benchNewStore(b, ctx, inf, s, nil)
	}
	var passes, empty atomic.Int64
	var bg sync.WaitGroup
	bg.Add(1)
	go func() {
		defer bg.Done()
		benchRelayLoop(ctx, relay, env, poll, &passes, &empty, &errs)
	}()
	envs := benchProducerEnvs(b, ctx, inf, s, q, p, tr.commit)
	cpu := cpuNow()
	start := time.Now()
	runProducers(ctx, p, envs, n, rate, start, &errs)
	err := benchAwait(ctx, tr, &errs)
	cpu.report(b, n)
	cancel()
	bg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(n)/tr.last.Sub(start).Seconds(), "msg/s")
	b.ReportMetric(0, "ns/op")
	reportLatency(b, tr.latencies())
	b.ReportMetric(float64(passes.Load()), "relay-passes")
	b.ReportMetric(float64(empty.Load()), "empty-passes")
	if tr.repeats > 0 {
		b.Logf("%d messages confirmed again", tr.repeats)
	}
}

// benchRelayLoop runs relay passes until ctx ends or a pass fails (the first error goes to
// errs), sleeping poll after a pass that found nothing; it counts the passes that published
// rows, and the empty ones when empty is not nil.
func benchRelayLoop(ctx context.Context, relay strategies.Relay, env strategies.RelayEnv, poll time.Duration,
	passes, empty *atomic.Int64, errs *benchFirstErr) {
	for ctx.Err() == nil {
		k, err := relay.RelayPass(ctx, env)
		if err != nil {
			if ctx.Err() == nil {
				errs.set(err)
			}
			return
		}
		if k > 0 {
			passes.Add(1)
			continue
		}
		if empty != nil {
			empty.Add(1)
		}
		Clock{}.Sleep(ctx, poll)
	}
}
