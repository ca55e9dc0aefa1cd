package real

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/examples/watermillsvc"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/real/realtest/servicetest"
	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/service"
)

// ---------------------------------------------------------------------------------------------
// A peer: the Watermill service

// BenchmarkWatermillPipeline: the peer, the Watermill service of examples/watermillsvc, run
// in-process the way BenchmarkPipeline runs our exactly-once pipeline (outbox, relay, inbox),
// at full speed, 3000 events, so that its figures sit beside ours from the same run.
//
// The peer is what a team gets from Watermill's own pieces: each order's row and its event
// written in one transaction by a watermill-sql publisher (the outbox table watermill_outbox),
// Watermill's Forwarder relaying the outbox to the run's queue with a watermill-amqp publisher
// waiting for each publisher confirm, and four consumers, each a Router fed by a watermill-amqp
// subscriber (prefetch 100) with the Deduplicator middleware in front of a handler that inserts
// one payment per message in its own transaction. Its guarantees are weaker than our pipeline's:
// the Deduplicator's keys live in one process's memory (a crashed consumer pays again, and
// competing consumers do not share them), where our inbox's key commits with the effect.
//
// It is set up like ours: eight producer goroutines, each on a connection of its own opened
// before the clock starts (Place, the service's Handle on a held connection); one relay (the
// Forwarder's SQL subscriber reads up to 100 rows a transaction, forwards them one at a time and
// commits its offset once per batch); four consumers. Two settings differ from the service as it
// is registered, each stated by its sub-benchmark or here:
//   - poll: the SQL subscriber's pause when the outbox has nothing new. poll=1s is Watermill's
//     default, as the service ships; poll=2ms is our relay's pause (benchRelayPoll).
//   - The Deduplicator's key is SHA-256 of the payload (Watermill's NewMessageHasherSHA256)
//     instead of its default, Adler-32 of the payload: Adler-32 is a sum, and the payloads of
//     this benchmark's 3000 orders ({"key":"order-0000000","amount":10} and so on) share 462
//     values among them, so the default Deduplicator would drop 2538 distinct orders as
//     duplicates and never pay them; the benchmark could not finish.
//
// Figures are measured as ours are: events/s is n over the time from the start to the n-th
// committed payment; p50-ms and p99-ms are, per event, the payment's COMMIT return minus the
// order's COMMIT return, both timed in this process (the service's Hooks, as the instrumented
// Stores time ours); cpu-us/event is the whole machine's CPU time per event (PostgreSQL and
// RabbitMQ included, and whatever else the machine runs meanwhile), go-cpu-us/event this
// process's (for ours the strategies, adapters and drivers; for the peer Watermill's libraries
// and the same drivers). of-pg-8conn compares events/s with the commit ceiling. of-ours is
// Watermill's events/s over ours (outbox/inbox of BenchmarkPipeline, measured earlier in this
// run): above 1 the peer is faster. cpu-of-ours, go-cpu-of-ours, p50-of-ours and p99-of-ours are
// Watermill's figure over ours: above 1 the peer costs more CPU per event or takes longer.
//
// Where the peer's time goes, from the libraries' code: the Forwarder handles one outbox row at
// a time, and watermill-amqp's publisher (ChannelPoolSize 0, its default) opens a channel, puts
// it in confirm mode, publishes, waits for that one confirm and closes the channel for every
// message, where our relay publishes a batch of 256 and waits for their confirms together; the
// SQL subscriber's query filters on pg_snapshot_xmin, so any transaction open on the server
// holds it back, the benchmark's own producers' included.
func BenchmarkWatermillPipeline(b *testing.B) {
	for _, poll := range []time.Duration{time.Second, benchRelayPoll} {
		b.Run("poll="+poll.String(), func(b *testing.B) { benchWatermill(b, poll, 3000*b.N, 0) })
	}
}

// BenchmarkWatermillPipelineLatency: the peer of BenchmarkWatermillPipeline with the producers
// paced, event i not before i/rate s. At rate=500, BenchmarkPipelineLatency's pace for ours,
// p50-of-ours, p99-of-ours and cpu-of-ours compare with ours paced the same way in this run; but
// 500 events/s is above the peer's full speed on this machine, so its p50-ms and p99-ms there are
// the backlog it builds. At rate=150, about half its full speed, they are the time an event takes
// through it (no figure of ours at that pace to compare with). With poll=1s the Forwarder
// sleeps a second each time it finds the outbox drained, which below full speed it soon does.
func BenchmarkWatermillPipelineLatency(b *testing.B) {
	for _, rate := range []float64{benchPacedRate, benchWatermillPaced} {
		for _, poll := range []time.Duration{time.Second, benchRelayPoll} {
			n := int(3 * rate * float64(b.N)) // three seconds of orders
			b.Run(fmt.Sprintf("rate=%g/poll=%s", rate, poll), func(b *testing.B) { benchWatermill(b, poll, n, rate) })
		}
	}
}

// benchWatermillPaced is the pace below the peer's full speed: about half of it.
const benchWatermillPaced = 150

// benchOursName is the pipeline of ours the peer is compared with.
const benchOursName = "outbox/inbox"

// benchFigures are a pipeline's figures, kept for a later benchmark of the same run to compare.
type benchFigures struct {
	rate, p50, p99 float64 // events/s, ms, ms
	cpu, goCPU     float64 // CPU us per event: the machine's, this process's
}

var benchPipelines = struct {
	sync.Mutex
	figs map[string]benchFigures
}{figs: map[string]benchFigures{}}

// benchPipelineKey names a pipeline's figures at full speed (rate 0) or paced.
func benchPipelineKey(name string, rate float64) string {
	if rate > 0 {
		return fmt.Sprintf("%s@%g", name, rate)
	}
	return name
}

// recordPipeline keeps the figures of our pipeline name (producer/consumer) at the offered rate
// (0: full speed) for a peer's comparison: n events whose effects tr saw from start, with the
// machine's CPU measured from cpu until now. A run that did not finish records nothing.
func recordPipeline(name string, rate float64, n int, start time.Time, tr *benchTracker, cpu cpuMeter) {
	f, ok := pipelineFigures(n, start, tr, cpu)
	if !ok {
		return
	}
	benchPipelines.Lock()
	defer benchPipelines.Unlock()
	benchPipelines.figs[benchPipelineKey(name, rate)] = f
}

func pipelineFigures(n int, start time.Time, tr *benchTracker, cpu cpuMeter) (benchFigures, bool) {
	tr.mu.Lock()
	last := tr.last
	tr.mu.Unlock()
	lat := tr.latencies()
	us, goUS, ok := cpu.usPerEvent(n)
	if last.IsZero() || len(lat) == 0 || !ok {
		return benchFigures{}, false
	}
	slices.Sort(lat)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(lat)))) - 1
		return float64(lat[max(i, 0)]) / float64(time.Millisecond)
	}
	return benchFigures{rate: float64(n) / last.Sub(start).Seconds(), p50: at(0.50), p99: at(0.99), cpu: us, goCPU: goUS}, true
}

// usPerEvent is cpuMeter.report's cpu-us/event and go-cpu-us/event: the machine's busy CPU time
// since m and this process's, per event.
func (m cpuMeter) usPerEvent(n int) (machine, self float64, ok bool) {
	now := cpuNow()
	if !m.ok || !now.ok || now.total <= m.total || n == 0 {
		return 0, 0, false
	}
	return float64(now.busy-m.busy) * 1e4 / float64(n), float64(now.self-m.self) / float64(time.Microsecond) / float64(n), true
}

// reportOfOurs reports the peer's figures over ours at the same offered rate, when ours were
// measured earlier in this run, and logs ours beside the peer's.
func reportOfOurs(b *testing.B, peer benchFigures, rate float64) {
	benchPipelines.Lock()
	ours, ok := benchPipelines.figs[benchPipelineKey(benchOursName, rate)]
	benchPipelines.Unlock()
	if !ok {
		b.Logf("no figures of ours (%s) at this pace in this run to compare with", benchOursName)
		return
	}
	b.Logf("ours (%s): %.0f events/s, p50 %.2f ms, p99 %.2f ms, %.0f cpu-us/event, %.0f go-cpu-us/event; watermill: %.0f events/s, p50 %.2f ms, p99 %.2f ms, %.0f cpu-us/event, %.0f go-cpu-us/event",
		benchOursName, ours.rate, ours.p50, ours.p99, ours.cpu, ours.goCPU, peer.rate, peer.p50, peer.p99, peer.cpu, peer.goCPU)
	if rate == 0 && ours.rate > 0 {
		b.ReportMetric(peer.rate/ours.rate, "of-ours")
	}
	if ours.cpu > 0 {
		b.ReportMetric(peer.cpu/ours.cpu, "cpu-of-ours")
	}
	if ours.goCPU > 0 {
		b.ReportMetric(peer.goCPU/ours.goCPU, "go-cpu-of-ours")
	}
	if ours.p50 > 0 && ours.p99 > 0 {
		b.ReportMetric(peer.p50/ours.p50, "p50-of-ours")
		b.ReportMetric(peer.p99/ours.p99, "p99-of-ours")
	}
}

// benchWatermill runs n orders through the Watermill service, its relay's poll interval poll;
// rate > 0 paces the producers.
func benchWatermill(b *testing.B, poll time.Duration, n int, rate float64) {
	inf := realtest.Require(b)
	env := servicetest.Env(b, inf, "orders") // the run's schema and queue, removed at the end
	env.Prefetch = benchPrefetch
	as := func(proc string) service.Env { e := env; e.Proc = proc; return e }
	ctx, cancel := context.WithCancel(benchCtx(b))
	defer cancel()
	tr := newBenchTracker(n)
	hooks := watermillsvc.Hooks{
		Committed:    func(id string, at time.Time) { tr.commit([]string{id}, at) },
		Paid:         func(id string, at time.Time) { tr.apply([]string{id}, at) },
		PollInterval: poll,
		DedupKey:     middleware.NewMessageHasherSHA256(math.MaxInt64),
	}
	if err := watermillsvc.New().Setup(ctx, as("harness")); err != nil {
		b.Fatal(err)
	}

	// The relay and the consumers, each a service value of its own (a process of its own in
	// service mode), running until ctx ends.
	var loops sync.WaitGroup
	defer loops.Wait()
	defer cancel()
	loops.Go(func() { _ = watermillsvc.New().WithHooks(hooks).Relay(ctx, as("relay")) })
	for i := range benchNConsumers {
		loops.Go(func() {
			_ = watermillsvc.New().WithHooks(hooks).Consume(ctx, as(fmt.Sprintf("consumer-%d", i+1)))
		})
	}
	conns := benchWatermillConns(b, ctx, env.Postgres)
	if err := benchWatermillReady(ctx, inf.AMQPURL, env); err != nil {
		b.Fatal(err)
	}

	producer := watermillsvc.New().WithHooks(hooks)
	var errs benchFirstErr
	cpu := cpuNow()
	start := time.Now()
	runWatermillProducers(ctx, producer, conns, env.Queue, n, rate, start, &errs)
	produced := time.Since(start)
	err := benchAwait(ctx, tr, &errs)
	cpu.report(b, n)
	peer, ok := pipelineFigures(n, start, tr, cpu)
	cancel()
	loops.Wait()
	if err != nil {
		b.Fatal(err)
	}
	reportPipeline(b, tr, n, rate, start, produced)
	if ok {
		reportOfOurs(b, peer, rate)
	}
	if tr.repeats > 0 {
		b.Logf("%d payments committed again", tr.repeats)
	}
}

// benchWatermillConns opens one connection per producer on url (the run's schema as its
// search_path), before the clock starts.
func benchWatermillConns(b *testing.B, ctx context.Context, url string) []*pgx.Conn {
	b.Helper()
	conns := make([]*pgx.Conn, benchNProducers)
	for i := range conns {
		c, err := pgx.Connect(ctx, url)
		if err != nil {
			b.Fatalf("connect to postgres: %v", redact.Error(err, urlPassword(url)))
		}
		b.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), benchSetup)
			defer cancel()
			_ = c.Close(ctx)
		})
		conns[i] = c
	}
	return conns
}

// benchWatermillReady waits until the relay's SQL subscriber has subscribed (its consumer
// group's offsets row exists; its AMQP publisher connected before it) and every consumer's
// AMQP subscriber consumes from the queue, or ctx ends.
func benchWatermillReady(ctx context.Context, amqpURL string, env service.Env) error {
	conn, err := pgx.Connect(ctx, env.Postgres)
	if err != nil {
		return fmt.Errorf("connect to postgres: %w", redact.Error(err, urlPassword(env.Postgres)))
	}
	defer func() { _ = conn.Close(context.Background()) }()
	ac, err := amqp091.DialConfig(amqpURL, amqp091.Config{Dial: amqp091.DefaultDial(benchSetup)})
	if err != nil {
		return fmt.Errorf("connect to rabbitmq: %w", redact.Error(err, urlPassword(amqpURL)))
	}
	defer func() { _ = ac.Close() }()
	ch, err := ac.Channel()
	if err != nil {
		return fmt.Errorf("rabbitmq channel: %w", err)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var relay bool
	var consumers atomic.Int64
	for {
		if !relay {
			err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM watermill_offsets_`+watermillsvc.OutboxTopic+` WHERE consumer_group = $1)`,
				watermillsvc.RelayGroup).Scan(&relay)
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("watermill relay's offsets row: %w", err)
			}
		}
		q, err := ch.QueueDeclarePassive(env.Queue, true, false, false, false, nil)
		if err != nil {
			return fmt.Errorf("inspect queue %s: %w", env.Queue, err)
		}
		consumers.Store(int64(q.Consumers))
		if relay && q.Consumers >= benchNConsumers {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("watermill service not ready (relay subscribed: %v, %d of %d consumers): %w",
				relay, consumers.Load(), benchNConsumers, ctx.Err())
		case <-tick.C:
		}
	}
}

// runWatermillProducers places orders 0 to n-1 with svc, one goroutine per connection taking the
// next order; rate > 0 paces them (order i not before start + i/rate). It returns when every
// order is placed or one failed (errs).
func runWatermillProducers(ctx context.Context, svc *watermillsvc.Service, conns []*pgx.Conn, queue string, n int,
	rate float64, start time.Time, errs *benchFirstErr) {
	pacedLoops(ctx, len(conns), n, rate, start, errs, func(g, i int) error {
		m := benchOrder("order-", i)
		return svc.Place(ctx, conns[g], queue, service.Command{ID: m.ID, Key: m.Key, Amount: m.Amount, Kind: m.Kind})
	})
}
