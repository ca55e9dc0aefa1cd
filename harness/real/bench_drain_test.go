package real

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

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
// Outbox.RelayPass until every row is published and marked. It is measured in benchSamples
// rounds, each on a new schema and queue, and each round first measures the sliding-window
// publish ceiling once more, on a queue of its own: the machine's pace drifts by a fifth from
// minute to minute, so a ratio of two figures taken a minute apart measures the drift.
// events/s is the median round's; of-pub-pipelined compares it with the ceiling measured at the
// start of the run, and of-pub-window-paired is the median of the rounds' own ratios.
// %claim, %publish, %confirm and %mark say where the relay's time went, over all rounds.
func BenchmarkRelayDrain(b *testing.B) {
	for _, batch := range []int{100, 256, 1024} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			inf := realtest.Require(b)
			ctx := benchCtx(b)
			n := 20000 * b.N
			probe := &relayProbe{}
			var total time.Duration
			var paired []float64
			cpu := cpuMeter{ok: true}
			rate, _ := medianOf(b, benchSamples, func() (float64, []time.Duration, error) {
				q := benchQueue(b, inf, NewRunID())
				ceil, _, err := rawPublish(ctx, inf.AMQPURL, q.Name, n*3/4, benchWindow, false)
				if err == nil {
					err = q.Delete(ctx) // what the broker holds stays the same from round to round
				}
				if err != nil {
					return 0, nil, err
				}
				elapsed, spent, err := relayDrain(b, ctx, inf, n, batch, probe)
				if err != nil {
					return 0, nil, err
				}
				total, cpu = total+elapsed, cpu.plus(spent)
				rate := float64(n) / elapsed.Seconds()
				paired = append(paired, rate/(float64(n*3/4)/ceil.Seconds()))
				return rate, nil, nil
			})
			cpu.reportSpent(b, benchSamples*n)
			b.ReportMetric(rate, "events/s")
			b.ReportMetric(0, "ns/op")
			reportOf(b, rate, ceilPubPipelined)
			b.ReportMetric(median(paired), "of-pub-window-paired")
			probe.report(b, total)
		})
	}
}

// relayDrain fills a new schema's outbox with n rows and times one relay (batch rows a pass)
// publishing and marking them all into a new queue; it returns the time and the CPU that took.
func relayDrain(b *testing.B, ctx context.Context, inf Infra, n, batch int, probe *relayProbe) (time.Duration, cpuMeter, error) {
	runID := NewRunID()
	s := benchSchema(b, inf, runID)
	q := benchQueue(b, inf, runID)
	fillOutbox(b, ctx, inf, s, n)
	st := benchNewStore(b, ctx, inf, s, nil)
	st.probe = probe
	pub := benchNewPublisher(b, ctx, inf, q)
	env := strategies.RelayEnv{
		Store: st, Publisher: probedPublisher{pub, probe}, Faults: benchFaults{}, Clock: Clock{}, Batch: batch,
	}
	cpu := cpuNow()
	start := time.Now()
	for done := 0; done < n; {
		k, err := strategies.Outbox{}.RelayPass(ctx, env)
		if err != nil {
			return 0, cpuMeter{}, err
		}
		if k == 0 {
			return 0, cpuMeter{}, fmt.Errorf("relay found nothing to publish after %d of %d rows", done, n)
		}
		done += k
	}
	elapsed := time.Since(start)
	spent := cpu.spent(cpuNow())
	if depth, err := q.Depth(ctx); err != nil || depth != n {
		return 0, cpuMeter{}, fmt.Errorf("queue holds %d messages after relaying %d rows (%v)", depth, n, err)
	}
	if err := q.Delete(ctx); err != nil {
		return 0, cpuMeter{}, err
	}
	return elapsed, spent, nil
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
// to the n-th committed effect. Compared with the 8-connection commit ceiling. inbox-check-first,
// seed 003's written form (a SELECT before the insert), prices the statement the inbox leaves out.
func BenchmarkConsumerDrain(b *testing.B) {
	for _, c := range append(benchConsumerStrategies[:len(benchConsumerStrategies):len(benchConsumerStrategies)], strategies.InboxCheckFirst{}) {
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
