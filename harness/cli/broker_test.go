package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestBrokerFlag: --broker picks the broker a command's scenarios run against; a bad name, or a
// fault the broker does not have, is one line and exit 2; `simulate list` names the brokers.
func TestBrokerFlag(t *testing.T) {
	lost := cellArgs{"double-write", "naive", "orders", "lost-confirm"}
	t.Run("list names the brokers", func(t *testing.T) {
		r := simulate(t, "list")
		requireCode(t, r, exitOK, []string{"list"})
		got := section(r.stdout, "brokers (--broker):")
		var names []string
		for _, l := range got {
			names = append(names, strings.Fields(l)[0])
		}
		if !slices.Equal(names, []string{"rabbitmq", "nats"}) {
			t.Errorf("brokers listed %q, want rabbitmq and nats:\n%s", names, r.stdout)
		}
	})
	for _, tc := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"run, unknown broker", args("run", lost, "--broker", "kafka"), []string{quoted("kafka"), "rabbitmq", "nats"}},
		{"matrix, unknown broker", []string{"matrix", "--broker", "kafka"}, []string{quoted("kafka")}},
		{"replay, unknown broker", args("replay", lost, "--broker", "kafka", "--seed", "1"), []string{quoted("kafka")}},
		{"run, broker-restart on nats", args("run", cellArgs{"outbox", "inbox", "orders", "broker-restart"}, "--broker", "nats"), []string{"broker-restart", "nats"}},
		{"matrix, broker-restart on nats", []string{"matrix", "--broker", "nats", "--fault", "broker-restart"}, []string{"broker-restart", "nats"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requireUsage(t, simulate(t, tc.args...), tc.args, tc.wants...)
		})
	}
}

// TestBrokerRun: the same cell breaks on RabbitMQ and holds on NATS, whose duplicate window drops
// the retry after a lost confirm; a NATS cell says its broker in JSON, in its title and in its
// replay line, and a RabbitMQ cell's JSON has no broker field.
func TestBrokerRun(t *testing.T) {
	lost := cellArgs{"double-write", "naive", "orders", "lost-confirm"}
	a := args("run", lost, "--seeds", "20", "--format", "json")
	r := simulate(t, a...)
	requireCode(t, r, exitFindings, a)
	if strings.Contains(r.stdout, `"broker"`) {
		t.Errorf("a RabbitMQ cell's JSON names a broker")
	}
	a = args("run", lost, "--seeds", "20", "--format", "json", "--broker", "nats")
	r = simulate(t, a...)
	requireCode(t, r, exitOK, a)
	if !strings.Contains(r.stdout, `"broker": "nats"`) {
		t.Errorf("a NATS cell's JSON does not name its broker:\n%s", clip(r.stdout))
	}
	crash := cellArgs{"double-write", "naive", "orders", "crash-consumer"}
	a = args("run", crash, "--seeds", "5", "--broker", "nats")
	r = simulate(t, a...)
	requireCode(t, r, exitFindings, a)
	if !strings.Contains(r.stdout, "under crash-consumer on nats") {
		t.Errorf("the NATS cell's title does not say its broker:\n%s", clip(r.stdout))
	}
	m := replayLine.FindStringSubmatch(r.stdout)
	if m == nil {
		t.Fatalf("no replay line:\n%s", clip(r.stdout))
	}
	replay := replayArgs(t, m[1])
	if !slices.Contains(replay, "--broker") {
		t.Fatalf("the replay line %q does not carry the broker", replay)
	}
	rr := simulate(t, replay...)
	requireCode(t, rr, exitFindings, replay)
	if !strings.Contains(rr.stdout, "on nats") {
		t.Errorf("the replay did not run on nats:\n%s", clip(rr.stdout))
	}
}
