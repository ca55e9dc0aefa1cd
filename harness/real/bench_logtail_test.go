package real

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/strategies"
)

// ---------------------------------------------------------------------------------------------
// Log tailing

// benchTailPolls are the relays' pauses after a pass that found nothing.
var benchTailPolls = []time.Duration{5 * time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond}

// BenchmarkLogTailing: the log-tailing producer next to the polling outbox relay, each at
// several polling intervals. Eight producer goroutines (each its own Store) run Produce for n
// events; one relay goroutine loops RelayPass (batch 256, its own Publisher; for log tailing a
// LogReader that streams the run's replication slot with pgoutput over a replication connection,
// for the outbox its own Store) and pauses poll after a pass that published nothing. The
// LogReader's Read waits up to 50 ms for the stream's next transaction itself, so the tailer's
// lag does not follow poll; its Advance is a standby status update and a look at the slot's
// confirmed position. No consumer: lag is, per message, the return of the relay's publisher
// confirm minus the return of the producer's COMMIT. msg/s is n over the time from the start to
// the n-th confirm. "full" runs the producers as fast as they go (lag then includes the backlog);
// "paced" offers 500 events/s (event i not before i/500 s), so that p50-ms and p99-ms are the
// relay's own lag. cpu-us/event is the whole machine's (the servers' included), so it is a fair
// price only on an otherwise idle machine (cpu-busy near 1 means it was not);
// servers-cpu-us/event is the local servers' processes' alone (other clients' work on them
// included), which with go-cpu-us/event still prices the two on a busy machine.
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
	tailRun(b, p, poll, 0, n, rate).report(b, n)
}

// report reports the figures of n events.
func (f tailFigures) report(b *testing.B, n int) {
	f.cpu.reportSpent(b, n)
	if f.servers.ok {
		b.ReportMetric(float64(f.servers.ticks)*1e4/float64(n), "servers-cpu-us/event")
	}
	b.ReportMetric(f.rate, "msg/s")
	b.ReportMetric(0, "ns/op")
	reportLatency(b, f.lat)
	b.ReportMetric(float64(f.passes), "relay-passes")
	b.ReportMetric(float64(f.empty), "empty-passes")
}

// tailFigures are what one tailRun measured.
type tailFigures struct {
	cpu           cpuMeter    // the machine's and this process's CPU, spent
	servers       serverTicks // the servers', spent
	rate          float64     // msg/s
	lat           []time.Duration
	passes, empty int64
}

// ownCPU is the CPU this process and the local servers spent, in microseconds.
func (f tailFigures) ownCPU() float64 {
	return float64(f.cpu.self)/float64(time.Microsecond) + float64(f.servers.ticks)*1e4
}

// tailRun is benchTail's run: it returns the figures instead of reporting them. A hold above zero
// is the tailer's (LogReader.SetHold).
func tailRun(b *testing.B, p strategies.Producer, poll, hold time.Duration, n int, rate float64) tailFigures {
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
		drop := func() {
			if err := slot.Drop(context.Background()); err != nil {
				b.Errorf("drop slot: %v", err)
			}
		}
		b.Cleanup(drop)
		lr, err := pg.NewLogReader(ctx, inf.PostgresURL, s.Name, slot.Name)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(lr.Close)
		lr.SetHold(hold)
		// A walsender left streaming would decode the WAL of what runs next.
		defer drop()
		defer lr.Close()
		if _, err := lr.Read(ctx, 1); err != nil { // open its connections and start the stream
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
	cpu, servers := cpuNow(), serversCPU()
	start := time.Now()
	runProducers(ctx, p, envs, n, rate, start, &errs)
	err := benchAwait(ctx, tr, &errs)
	f := tailFigures{cpu: cpu.spent(cpuNow()), servers: servers.spent(serversCPU())}
	cancel()
	bg.Wait()
	if err != nil {
		b.Fatal(err)
	}
	f.rate = float64(n) / tr.last.Sub(start).Seconds()
	f.lat = tr.latencies()
	f.passes, f.empty = passes.Load(), empty.Load()
	if tr.repeats > 0 {
		b.Logf("%d messages confirmed again", tr.repeats)
	}
	return f
}

// benchTailHold is the held tailer's hold in BenchmarkLogTailingPaired: about the lag the
// polling outbox has at a 20 ms poll, paced at 500 events/s.
const benchTailHold = 10 * time.Millisecond

// BenchmarkLogTailingPaired: the CPU price of log tailing against the polling outbox's at a 20 ms
// poll, paced at 500 events/s, in benchSamples rounds that run one after the other (the order
// rotated from round to round; each run a sub-benchmark of its own, reporting as LogTailing's
// do): the machine's pace drifts from minute to minute by more than the difference, so each
// round's ratios are taken between neighbours. Each round runs three: the tailer as it comes
// (its lag about 2 ms), the tailer held (LogReader.SetHold, benchTailHold: fewer, larger passes,
// its lag near the outbox's), and the outbox. The last sub-benchmark, "ratio", reports
// own-cpu-ratio, the median round's ratio of this process's and the servers' CPU per event,
// tailer to outbox, machine-cpu-ratio, the same for the whole machine's, p50-ms and p99-ms, the
// tailer's lag in the median round of own-cpu-ratio, and the same for the held tailer
// (held-own-cpu-ratio, held-machine-cpu-ratio, held-p50-ms).
//
//	HARNESS_REQUIRE_INFRA=1 go test ./harness/real/ -run '^$' -bench LogTailingPaired -benchtime 1x
func BenchmarkLogTailingPaired(b *testing.B) {
	const poll = 20 * time.Millisecond
	realtest.RequireLogicalWAL(b, realtest.Require(b)) // no round without its tailers
	type arm struct {
		name string
		p    strategies.Producer
		hold time.Duration
	}
	type round struct {
		own, machine float64
		lat          []time.Duration
	}
	arms := []arm{
		{"log-tailing", strategies.LogTailing{}, 0},
		{fmt.Sprintf("log-tailing-held-%v", benchTailHold), strategies.LogTailing{}, benchTailHold},
		{"outbox", strategies.Outbox{}, 0},
	}
	rounds := make([][]round, 2) // the tailer's, the held tailer's
	for i := range benchSamples {
		figs := make([]tailFigures, len(arms))
		for k := range arms {
			j := (i + k) % len(arms)
			a := arms[j]
			ok := b.Run(fmt.Sprintf("round-%d/%s", i+1, a.name), func(b *testing.B) {
				n := 1500 * b.N
				figs[j] = tailRun(b, a.p, poll, a.hold, n, benchPacedRate)
				figs[j].report(b, n)
			})
			if !ok {
				b.FailNow() // no ratio from a round with a failed run
			}
		}
		outbox := figs[2]
		for j, f := range figs {
			if f.cpu.busy <= 0 || f.ownCPU() <= 0 {
				b.Fatalf("round %d: %s measured no CPU", i+1, arms[j].name)
			}
		}
		for j := range rounds {
			rounds[j] = append(rounds[j], round{
				own:     figs[j].ownCPU() / outbox.ownCPU(),
				machine: float64(figs[j].cpu.busy) / float64(outbox.cpu.busy),
				lat:     figs[j].lat,
			})
		}
	}
	b.Run("ratio", func(b *testing.B) {
		for j, prefix := range []string{"", "held-"} {
			rs := rounds[j]
			slices.SortFunc(rs, func(x, y round) int { return cmp.Compare(x.own, y.own) })
			mid := rs[len(rs)/2]
			b.ReportMetric(mid.own, prefix+"own-cpu-ratio")
			machine := make([]float64, len(rs))
			for i, r := range rs {
				machine[i] = r.machine
			}
			b.ReportMetric(median(machine), prefix+"machine-cpu-ratio")
			if prefix == "" {
				reportLatency(b, mid.lat)
			} else if len(mid.lat) > 0 {
				b.ReportMetric(quantileMs(mid.lat, 0.50), prefix+"p50-ms")
			}
		}
		b.ReportMetric(0, "ns/op")
	})
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

// serverTicks is the CPU time, in clock ticks, the local servers' processes had used: every
// postgres process (the postmaster's waited-for children included: backends and walsenders that
// have ended), RabbitMQ's beam.smp and nats-server. ok is false where /proc says nothing of
// them (servers in another machine).
type serverTicks struct {
	ticks int64
	ok    bool
}

func serversCPU() serverTicks {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return serverTicks{}
	}
	var t serverTicks
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ... utime(14) stime(15) cutime(16) cstime(17)
		s := string(data)
		open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || closing < open {
			continue
		}
		comm, f := s[open+1:closing], strings.Fields(s[closing+1:])
		if len(f) < 15 || comm != "postgres" && comm != "beam.smp" && comm != "nats-server" {
			continue
		}
		fields := []int{11, 12} // utime, stime
		if comm == "postgres" && !isPostgres(f[1]) {
			fields = append(fields, 13, 14) // the postmaster: its children's that ended
		}
		for _, i := range fields {
			n, err := strconv.ParseInt(f[i], 10, 64)
			if err != nil {
				return serverTicks{}
			}
			t.ticks += n
		}
		t.ok = true
	}
	return t
}

// isPostgres reports whether the process pid is a postgres process.
func isPostgres(pid string) bool {
	data, err := os.ReadFile("/proc/" + pid + "/comm")
	return err == nil && strings.TrimSpace(string(data)) == "postgres"
}

// spent is the servers' CPU time from t to now; it is not ok when either reading failed.
func (t serverTicks) spent(now serverTicks) serverTicks {
	return serverTicks{ticks: now.ticks - t.ticks, ok: t.ok && now.ok}
}
