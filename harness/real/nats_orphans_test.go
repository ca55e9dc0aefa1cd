package real

import (
	"context"
	"slices"
	"strings"
	"testing"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// TestCleanTakesDeadNATSStreams: a dead run's stream goes with its schema; a live run's stays; a
// stream of a dead run's name that does not carry the run's marker is not the harness's and
// stays; a dry run lists the dead run's stream and deletes nothing.
func TestCleanTakesDeadNATSStreams(t *testing.T) {
	inf := realtest.Database(t, realtest.RequireNATS(t))
	ctx := testCtx(t)
	nc, err := natsgo.Connect(inf.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	streamExists := func(name string) bool {
		_, err := js.Stream(ctx, name)
		return err == nil
	}
	mk := func(marked bool) (*pg.Schema, string) {
		s := pgTestSchema(t, inf)
		runID := strings.TrimPrefix(s.Name, pg.SchemaPrefix)
		if marked {
			st, err := nats.CreateStream(ctx, inf.NATSURL, runID, "effects")
			if err != nil {
				t.Fatal(err)
			}
			_ = st.Close()
		} else if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: nats.StreamName(runID), Subjects: []string{"foreign." + runID}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = js.DeleteStream(context.Background(), nats.StreamName(runID)) })
		return s, runID
	}
	dead, deadRun := mk(true)
	_, liveRun := mk(true)
	foreign, foreignRun := mk(false)
	dead.Close() // the processes are gone: their liveness locks with them
	foreign.Close()

	for _, dryRun := range []bool{true, false} {
		rep, err := Clean(ctx, inf, dryRun)
		if err != nil {
			t.Fatalf("clean (dry run %v): %v", dryRun, err)
		}
		var streams []Leftover
		for _, l := range rep.Dropped {
			if l.Kind == "stream" {
				streams = append(streams, l)
			}
		}
		if want := []Leftover{{Kind: "stream", Name: nats.StreamName(deadRun), Run: deadRun}}; !slices.Equal(streams, want) {
			t.Errorf("dry run %v: streams reported %v, want %v", dryRun, streams, want)
		}
		if got := streamExists(nats.StreamName(deadRun)); got != dryRun {
			t.Errorf("dry run %v: the dead run's stream exists: %v", dryRun, got)
		}
		if !streamExists(nats.StreamName(liveRun)) {
			t.Errorf("dry run %v: the live run's stream is gone", dryRun)
		}
		if !streamExists(nats.StreamName(foreignRun)) {
			t.Errorf("dry run %v: a stream without the run's marker is gone", dryRun)
		}
	}
}

// TestNATSRunLeavesNothing: a nats run deletes its stream at its end, and keeps its schema's
// liveness marker until then.
func TestNATSRunLeavesNothing(t *testing.T) {
	inf := realtest.Database(t, realtest.RequireNATS(t))
	b := NewBackend(inf)
	nc, err := natsgo.Connect(inf.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	var during []string
	b.beforeFinal = func(ctx context.Context, schema string) { during = harnessStreams(t, js) }
	sc := history.Scenario{Producer: "outbox", Consumer: "inbox", Workload: "orders", Fault: "none", Seed: 1, Broker: history.BrokerNATS,
		Commands:  []history.Message{{ID: "order-1", Key: "order-1", Amount: 10, Seq: 1, Kind: "OrderPlaced"}},
		Consumers: 1, Prefetch: 1, Batch: 1}
	h, err := b.Run(context.Background(), sc, mustProducer(t, sc.Producer), mustConsumer(t, sc.Consumer))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(during, nats.StreamName(h.Run)) {
		t.Fatalf("the run's stream %s was not there during the run: %v", nats.StreamName(h.Run), during)
	}
	if slices.Contains(harnessStreams(t, js), nats.StreamName(h.Run)) {
		t.Fatalf("the run left its stream %s behind", nats.StreamName(h.Run))
	}
	if realtest.SchemaExists(t, realtest.AdminConn(t, inf), pg.SchemaPrefix+h.Run) {
		t.Error("the run left its schema behind")
	}
}

func harnessStreams(t *testing.T, js jetstream.JetStream) []string {
	t.Helper()
	var out []string
	names := js.StreamNames(testCtx(t))
	for n := range names.Name() {
		if strings.HasPrefix(n, nats.StreamPrefix) {
			out = append(out, n)
		}
	}
	if err := names.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
