package real

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/strategies"
)

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
				rate, lat := medianOf(b, samples, func() (float64, []time.Duration, error) {
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
			rate, lat := medianOf(b, samples, func() (float64, []time.Duration, error) {
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
