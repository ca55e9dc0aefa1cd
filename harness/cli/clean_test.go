package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/rabbitnode"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// startCLI starts the CLI with args as a process of its own (this test binary, see TestMain).
func startCLI(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	raw, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), envCLIArgs+"="+string(raw))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd, &out
}

// leftovers are what the runs of process pid have on the servers, by kind.
type leftovers struct {
	runs, schemas, slots, queues []string
}

func (l leftovers) empty() bool { return len(l.schemas)+len(l.slots)+len(l.queues) == 0 }

// leftoversOf lists the schemas and slots of process pid's runs (run ids start with p<pid>_),
// and the queues of those runs and of runs named in known.
func leftoversOf(t *testing.T, inf real.Infra, pid int, known []string) leftovers {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, inf.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	prefix := fmt.Sprintf("%sp%d\\_%%", strings.ReplaceAll(pg.SchemaPrefix, "_", "\\_"), pid)
	var l leftovers
	rows, _ := conn.Query(ctx, `SELECT nspname FROM pg_namespace WHERE nspname LIKE $1 ORDER BY 1`, prefix)
	if l.schemas, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	rows, _ = conn.Query(ctx, `SELECT slot_name::text FROM pg_replication_slots WHERE slot_name LIKE $1 ORDER BY 1`, prefix)
	if l.slots, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	l.runs = slices.Clone(known)
	for _, s := range l.schemas {
		if id := strings.TrimPrefix(s, pg.SchemaPrefix); !slices.Contains(l.runs, id) {
			l.runs = append(l.runs, id)
		}
	}
	mq, err := amqp091.Dial(inf.AMQPURL)
	if err != nil {
		t.Fatal(err)
	}
	defer mq.Close()
	for _, id := range l.runs {
		ch, err := mq.Channel()
		if err != nil {
			t.Fatal(err)
		}
		_, err = ch.QueueDeclarePassive(amqp.QueueName(id), true, false, false, false, nil)
		var ae *amqp091.Error
		switch {
		case err == nil:
			l.queues = append(l.queues, amqp.QueueName(id))
			_ = ch.Close()
		case !(errors.As(err, &ae) && ae.Code == amqp091.NotFound):
			t.Fatal(err)
		}
	}
	return l
}

// TestKilledRunLeavesNothing: a parent SIGKILLed in the middle of a log-tailing matrix leaves its
// schema, replication slot and queue on the servers; `simulate clean` (after a dry run that
// lists them and removes nothing), or the next real run, removes them all.
func TestKilledRunLeavesNothing(t *testing.T) {
	shared := containers.Require(t)
	realtest.RequireLogicalWAL(t, shared)
	for _, tc := range []struct {
		name string
		reap func(t *testing.T, killed leftovers)
	}{
		{"clean", func(t *testing.T, killed leftovers) {
			a := []string{"clean", "--dry-run"}
			r := simulate(t, a...)
			requireCode(t, r, exitOK, a)
			for _, name := range append(append(slices.Clone(killed.schemas), killed.queues...), killed.slots...) {
				if !strings.Contains(r.stdout, "would drop ") || !strings.Contains(r.stdout, name) {
					t.Errorf("the dry run does not list %s:\n%s", name, r.stdout)
				}
			}
			a = []string{"clean"}
			r = simulate(t, a...)
			requireCode(t, r, exitOK, a)
			for _, name := range append(append(slices.Clone(killed.schemas), killed.queues...), killed.slots...) {
				if !strings.Contains(r.stdout, "dropped ") || !strings.Contains(r.stdout, name) {
					t.Errorf("clean does not list %s:\n%s", name, r.stdout)
				}
			}
			t.Logf("simulate clean:\n%s", r.stdout)
		}},
		{"next run", func(t *testing.T, _ leftovers) {
			a := []string{"run", "--backend", "real", "--producer", "outbox", "--consumer", "inbox",
				"--workload", "orders", "--fault", "none", "--seeds", "1", "--commands", "1"}
			r := simulate(t, a...)
			requireCode(t, r, exitOK, a)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inf := realtest.Database(t, shared)
			t.Setenv(infra.EnvPostgresURL, inf.PostgresURL)
			t.Setenv(infra.EnvAMQPURL, inf.AMQPURL)
			cmd, out := startCLI(t, "matrix", "--backend", "real", "--producer", "log-tailing", "--consumer", "inbox",
				"--workload", "orders", "--seeds", "2")
			pid := cmd.Process.Pid
			// Kill it once a run of it has its schema, its slot and its queue.
			deadline := time.Now().Add(90 * time.Second)
			var seen leftovers
			for {
				seen = leftoversOf(t, inf, pid, nil)
				if len(seen.slots) > 0 && len(seen.queues) > 0 {
					break
				}
				if time.Now().After(deadline) || cmd.ProcessState != nil {
					t.Fatalf("no run of the matrix with a schema, a slot and a queue within 90 s; output:\n%s", out)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			killed := leftoversOf(t, inf, pid, seen.runs)
			if len(killed.schemas) == 0 || len(killed.slots) == 0 || len(killed.queues) == 0 {
				t.Fatalf("the killed parent left %+v: want a schema, a slot and a queue (the premise)", killed)
			}
			tc.reap(t, killed)
			if left := leftoversOf(t, inf, pid, killed.runs); !left.empty() {
				t.Errorf("left behind: %+v", left)
			}
		})
	}
}

// TestCleanLeavesLiveRun: `simulate clean` while a real run goes on in another process does not
// touch it: the run ends with its verdict, and clean lists it as live.
func TestCleanLeavesLiveRun(t *testing.T) {
	inf := realtest.Database(t, containers.Require(t))
	t.Setenv(infra.EnvPostgresURL, inf.PostgresURL)
	t.Setenv(infra.EnvAMQPURL, inf.AMQPURL)
	cmd, out := startCLI(t, "run", "--backend", "real", "--producer", "outbox", "--consumer", "inbox",
		"--workload", "orders", "--fault", "crash-relay", "--seeds", "3", "--commands", "3")
	pid := cmd.Process.Pid
	deadline := time.Now().Add(60 * time.Second)
	for len(leftoversOf(t, inf, pid, nil).schemas) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no run of the process within 60 s; output:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	a := []string{"clean"}
	r := simulate(t, a...)
	requireCode(t, r, exitOK, a)
	if strings.Contains(r.stdout, fmt.Sprintf("p%d_", pid)) || !strings.Contains(r.stdout, "1 live run left alone") {
		t.Errorf("clean touched the live run, or did not see it:\n%s", r.stdout)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the live run: %v\n%s", err, out)
	}
	if !strings.Contains(out.String(), "(as expected)") {
		t.Errorf("the live run did not end with its verdict:\n%s", out)
	}
}

// TestCleanUsage: clean takes no arguments but --dry-run.
func TestCleanUsage(t *testing.T) {
	for _, a := range [][]string{{"clean", "extra"}, {"clean", "--force"}} {
		r := simulate(t, a...)
		requireCode(t, r, exitUsage, a)
		if strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("simulate %s: want one line, got %q", strings.Join(a, " "), r.stderr)
		}
	}
	r := simulate(t, "clean", "--help")
	requireCode(t, r, exitOK, []string{"clean", "--help"})
	if !strings.Contains(r.stdout, "--dry-run") {
		t.Errorf("clean --help:\n%s", r.stdout)
	}
}

// TestCleanUnreachable: with no server to clean, clean says so in one line without the
// password, exits 3, and claims nothing about what is left on the servers.
func TestCleanUnreachable(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir()) // no node directory of another test to report
	t.Setenv(infra.EnvPostgresURL, "postgres://u:secret@127.0.0.1:1/test?sslmode=disable")
	t.Setenv(infra.EnvAMQPURL, "amqp://u:secret@127.0.0.1:1/")
	a := []string{"clean"}
	r := simulate(t, a...)
	requireCode(t, r, exitFailure, a)
	if strings.Count(r.stderr, "\n") != 1 || strings.Contains(r.stderr, "secret") {
		t.Errorf("want one line without the password, got %q", r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("clean reported on servers it never reached:\n%s", r.stdout)
	}
}

// TestCleanStopsNodes: `simulate clean --dry-run` lists the dedicated RabbitMQ node a killed
// process left (its directory, with its dead owner's pid) and touches nothing; `simulate clean`
// lists it as stopped and removes its directory, also when the servers cannot be reached; with
// servers the summary line counts it. (Stopping a running node is package rabbitnode's TestSweep.)
func TestCleanStopsNodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		servers func(t *testing.T)
		code    int
		summary string // in stdout after clean, "" for none
	}{
		{"servers unreachable", func(t *testing.T) {
			t.Setenv(infra.EnvPostgresURL, "postgres://u:secret@127.0.0.1:1/test?sslmode=disable")
			t.Setenv(infra.EnvAMQPURL, "amqp://u:secret@127.0.0.1:1/")
		}, exitFailure, ""},
		{"servers", func(t *testing.T) {
			inf := realtest.Database(t, containers.Require(t))
			t.Setenv(infra.EnvPostgresURL, inf.PostgresURL)
			t.Setenv(infra.EnvAMQPURL, inf.AMQPURL)
		}, exitOK, "stopped 1 RabbitMQ node"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.servers(t)
			tmp := t.TempDir()
			t.Setenv("TMPDIR", tmp) // this test's node directories only
			dead := exec.Command("true")
			if err := dead.Run(); err != nil {
				t.Fatal(err)
			}
			// The layout of package rabbitnode: harness-rabbitnode-<owner pid>-..., an owner file
			// with that pid, a nodename file.
			dir := filepath.Join(tmp, fmt.Sprintf("harness-rabbitnode-%d-1-1", dead.Process.Pid))
			node := fmt.Sprintf("harness-%d-1-1@localhost", dead.Process.Pid)
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, text := range map[string]string{"owner": fmt.Sprintf("%d\n", dead.Process.Pid), "nodename": node + "\n"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if o, err := rabbitnode.Orphans(); err != nil || len(o) != 1 || o[0].Node != node {
				t.Fatalf("rabbitnode.Orphans: %+v, %v; want %s (the premise)", o, err, node)
			}

			a := []string{"clean", "--dry-run"}
			r := simulate(t, a...)
			requireCode(t, r, tc.code, a)
			if !strings.Contains(r.stdout, "would stop node "+node+"\n") {
				t.Errorf("the dry run does not list %s:\n%s", node, r.stdout)
			}
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("the dry run touched %s: %v", dir, err)
			}

			a = []string{"clean"}
			r = simulate(t, a...)
			requireCode(t, r, tc.code, a)
			if !strings.Contains(r.stdout, "stopped node "+node+"\n") || !strings.Contains(r.stdout, tc.summary) {
				t.Errorf("clean does not list %s (or lacks %q):\n%s", node, tc.summary, r.stdout)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("clean left %s: %v", dir, err)
			}
			if strings.Contains(r.stdout+r.stderr, "secret") {
				t.Errorf("a password in the output:\n%s\n%s", r.stdout, r.stderr)
			}
			t.Logf("simulate clean:\n%s", r.stdout)
		})
	}
}
