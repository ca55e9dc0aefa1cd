package real

// Benchmarks on the real servers, in-process (no worker processes, no faults). Each benchmark
// skips without servers (Require), makes its own schema and queue and removes them afterwards.
//
// Go runs them file by file, in the files' name order, so ceilings come first and the later ones
// can report their figure as a ratio to a ceiling measured in the same run (metrics named
// "of-..."):
//
//   - bench_ceilings_test.go:
//   - BenchmarkCeilingPostgresCommits: BEGIN/INSERT/COMMIT on raw pgx connections, 1 and 8 at
//     once, direct and through an in-process Toxiproxy proxy.
//   - BenchmarkCeilingRabbitPublish: persistent publishes with confirms on a raw amqp091 channel,
//     one at a time and with 256 confirms outstanding, direct and through Toxiproxy; and, to
//     place the relay, 256 published then 256 awaited, raw and through this package's Publisher.
//   - bench_drain_test.go:
//   - BenchmarkProducer: eight producers of a strategy, alone.
//   - BenchmarkRelayDrain: the outbox relay (Outbox.RelayPass) draining a backlog of committed rows.
//   - BenchmarkConsumerDrain: four consumers of a strategy draining a filled queue.
//   - bench_logtail_test.go:
//   - BenchmarkLogTailing: the log-tailing relay (a replication slot) next to the polling outbox
//     relay at several polling intervals: msg/s and the lag from COMMIT to publisher confirm.
//   - BenchmarkLogTailingPaired: the two at a 20 ms poll, paced, in alternating rounds: the ratio
//     of their CPU per event.
//   - bench_pipeline_test.go:
//   - BenchmarkPipeline: producer strategy, relay and consumer strategy together, from the
//     business commit to the committed effect, at full speed: throughput (and latency, which
//     then includes the backlog).
//   - BenchmarkPipelineLatency: the same pipelines paced at 500 events/s: latency.
//   - bench_watermill_test.go:
//   - BenchmarkWatermillPipeline, BenchmarkWatermillPipelineLatency: the peer, the Watermill
//     service of examples/watermillsvc (watermill-sql outbox, Forwarder, AMQP subscriber,
//     Deduplicator), measured as our pipeline is, with its ratios to our outbox/inbox pipeline
//     measured earlier in the same run (metrics named "...-of-ours").
//
// bench_support_test.go holds what they share: the instrumented Store, the tracker of commits and
// effects, the producer and consumer loops.
//
// Every benchmark also reports the machine's CPU time per event (all processes, PostgreSQL and
// RabbitMQ included), the part of it this process used, and how busy the cores were.
//
// Run them with
//
//	HARNESS_REQUIRE_INFRA=1 go test ./harness/real/ -run '^$' -bench . -benchtime 1x -count 1
//
// Sizes scale with b.N; with -benchtime 1x the whole set takes about five minutes.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
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
	b.ReportMetric(quantileMs(lat, 0.50), "p50-ms")
	b.ReportMetric(quantileMs(lat, 0.99), "p99-ms")
}

// quantileMs is the q quantile of lat (not empty; sorted in place), in milliseconds.
func quantileMs(lat []time.Duration, q float64) float64 {
	slices.Sort(lat)
	i := int(math.Ceil(q*float64(len(lat)))) - 1
	return float64(lat[max(i, 0)]) / float64(time.Millisecond)
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
func (m cpuMeter) report(b *testing.B, n int) { m.spent(cpuNow()).reportSpent(b, n) }

// spent is the CPU time used from m to now; it is not ok when either reading failed.
func (m cpuMeter) spent(now cpuMeter) cpuMeter {
	return cpuMeter{
		busy: now.busy - m.busy, steal: now.steal - m.steal, total: now.total - m.total,
		self: now.self - m.self, ok: m.ok && now.ok,
	}
}

// plus adds two spans of CPU time (both ok for the sum to be).
func (m cpuMeter) plus(d cpuMeter) cpuMeter {
	return cpuMeter{
		busy: m.busy + d.busy, steal: m.steal + d.steal, total: m.total + d.total,
		self: m.self + d.self, ok: m.ok && d.ok,
	}
}

// reportSpent reports d, CPU time spent on n events, as report does.
func (d cpuMeter) reportSpent(b *testing.B, n int) {
	if !d.ok || d.total <= 0 || n == 0 {
		return
	}
	b.ReportMetric(float64(d.busy)*1e4/float64(n), "cpu-us/event")
	b.ReportMetric(float64(d.self)/float64(time.Microsecond)/float64(n), "go-cpu-us/event")
	b.ReportMetric(float64(d.busy)/float64(d.total), "cpu-busy")
	b.ReportMetric(float64(d.steal)/float64(d.total), "cpu-steal")
}

// benchSamples is how many times a ceiling, and a relay draining a backlog, is measured; the
// median sample is the figure. On these machines a confirmed-publish loop's samples are
// heavy-tailed (RabbitMQ's confirms follow its fsyncs): one sample in several runs up to 1.5 times
// the others, so a best sample measures luck, and a ratio of one run to it, the figure's spread.
const benchSamples = 5

// medianOf runs measure samples times (samples is 1 or more) and returns the median sample (the
// upper one of an even count). With more than one sample it reports their spread, the lowest rate
// over the highest, as "spread", and the highest over the median as "best-of-median".
func medianOf(b *testing.B, samples int, measure func() (rate float64, lat []time.Duration, err error)) (float64, []time.Duration) {
	b.Helper()
	type sample struct {
		rate float64
		lat  []time.Duration
	}
	got := make([]sample, 0, samples)
	for range samples {
		rate, lat, err := measure()
		if err != nil {
			b.Fatal(err)
		}
		got = append(got, sample{rate, lat})
	}
	slices.SortFunc(got, func(x, y sample) int { return cmp.Compare(x.rate, y.rate) })
	mid := got[len(got)/2]
	if n := len(got); n > 1 && mid.rate > 0 {
		b.ReportMetric(got[0].rate/got[n-1].rate, "spread")
		b.ReportMetric(got[n-1].rate/mid.rate, "best-of-median")
	}
	return mid.rate, mid.lat
}

// median is the middle of xs (the upper one of an even count); xs is not empty. It sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	return xs[len(xs)/2]
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
