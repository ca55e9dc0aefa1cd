package cli

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/nats"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// TestKilledNATSRunLeavesNothing: a matrix on the nats broker SIGKILLed while a run of it has its
// stream leaves that stream on the server; `simulate clean` lists it and deletes it.
func TestKilledNATSRunLeavesNothing(t *testing.T) {
	inf := realtest.Database(t, realtest.RequireNATS(t))
	t.Setenv(infra.EnvPostgresURL, inf.PostgresURL)
	t.Setenv(infra.EnvAMQPURL, inf.AMQPURL)
	t.Setenv(infra.EnvNATSURL, inf.NATSURL)
	nc, err := natsgo.Connect(inf.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cmd, out := startCLI(t, "matrix", "--backend", "real", "--broker", "nats", "--producer", "outbox", "--consumer", "inbox",
		"--workload", "orders", "--seeds", "3")
	prefix := fmt.Sprintf("%sp%d_", nats.StreamPrefix, cmd.Process.Pid)
	streamsOf := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var got []string
		names := js.StreamNames(ctx)
		for n := range names.Name() {
			if strings.HasPrefix(n, prefix) {
				got = append(got, n)
			}
		}
		return got
	}
	deadline := time.Now().Add(90 * time.Second)
	var killed []string
	for len(killed) == 0 {
		if time.Now().After(deadline) || cmd.ProcessState != nil {
			t.Fatalf("no run of the matrix with a stream within 90 s; output:\n%s", out)
		}
		killed = streamsOf()
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if killed = streamsOf(); len(killed) == 0 {
		t.Fatal("the killed parent left no stream (the premise)")
	}
	t.Cleanup(func() {
		for _, n := range streamsOf() {
			_ = js.DeleteStream(context.Background(), n)
		}
	})
	a := []string{"clean"}
	r := simulate(t, a...)
	requireCode(t, r, exitOK, a)
	for _, n := range killed {
		if !strings.Contains(r.stdout, "dropped stream "+n) {
			t.Errorf("clean does not list stream %s:\n%s", n, r.stdout)
		}
	}
	if left := streamsOf(); len(left) > 0 {
		t.Errorf("streams left after clean: %v", left)
	}
}
