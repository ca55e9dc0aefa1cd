package real

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// Pipelines

// BenchmarkPipeline: a producer strategy and a consumer strategy end to end at full speed,
// orders workload. Eight producer goroutines (each its own Store, and for double-write its own
// Publisher) run Produce for n events as fast as they can; for the outbox one relay goroutine
// loops RelayPass (batch 256, its own Store and Publisher; a 2 ms pause when it finds nothing);
// four consumers (prefetch 100, each its own Store) run Handle. events/s is n over the time from
// the start to the n-th committed effect; of-pg-8conn compares it with the commit ceiling
// measured at the start of the run, of-pg-8conn-paired with the ceiling measured again right
// before the pipeline (8,000 commits); produce-events/s is n over the time the producers took.
// Latency is, per event, the effect's COMMIT return minus the business COMMIT return: at full
// speed it includes the backlog that builds up when producers outpace the consumers
// (BenchmarkPipelineLatency paces them).
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
	var ceil float64 // at full speed: the 8-connection commit ceiling, again, right before
	if rate == 0 {
		const commits = 8000
		elapsed, _, err := rawCommits(ctx, inf.PostgresURL, benchSchema(b, inf, NewRunID()).Name, 8, commits, 0)
		if err != nil {
			b.Fatal(err)
		}
		ceil = commits / elapsed.Seconds()
	}
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
	recordPipeline(p.Name()+"/"+c.Name(), rate, n, start, tr, cpu) // for the peers' of-ours
	cancel()
	bg.Wait()
	wait()
	if err != nil {
		b.Fatal(err)
	}
	got := reportPipeline(b, tr, n, rate, start, produced)
	if ceil > 0 {
		// The machine's pace drifts from minute to minute: the ceiling measured next to it.
		b.ReportMetric(got/ceil, "of-pg-8conn-paired")
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

// reportPipeline reports a pipeline's figures, ours or a peer's, alike: events/s from the start
// to the last effect, the latencies from COMMIT to effect, and at full speed (rate 0) the ratio to
// the 8-connection commit ceiling and how fast the producers went (produced: their time). It
// returns the events/s.
func reportPipeline(b *testing.B, tr *benchTracker, n int, rate float64, start time.Time, produced time.Duration) float64 {
	got := reportRate(b, n, tr.last.Sub(start))
	reportLatency(b, tr.latencies())
	if rate == 0 {
		reportOf(b, got, ceilPG8)
		b.ReportMetric(float64(n)/produced.Seconds(), "produce-events/s")
	}
	return got
}
