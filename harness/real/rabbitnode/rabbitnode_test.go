package rabbitnode

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"

	"github.com/deliveryharness/harness/harness/real/infra"
)

// startNode starts a node for the test and stops it when the test ends. Without RabbitMQ
// installed it skips the test with one line, or fails it under HARNESS_REQUIRE_INFRA=1.
func startNode(t *testing.T) (*Node, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	began := time.Now()
	n, err := Start(ctx)
	took := time.Since(began)
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv(infra.EnvRequireInfra) == "1" {
			t.Fatalf("%v (%s=1)", err, infra.EnvRequireInfra)
		}
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := n.Stop(ctx); err != nil {
			t.Errorf("stop %s: %v", n.Name(), err)
		}
	})
	return n, took
}

// dial opens a connection to the node, closed when the test ends.
func dial(t *testing.T, n *Node) *amqp091.Connection {
	t.Helper()
	conn, err := amqp091.Dial(n.AMQPURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// publish publishes body persistently on a confirming channel and waits for its ack.
func publish(t *testing.T, ch *amqp091.Channel, queue, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp091.Publishing{
		DeliveryMode: amqp091.Persistent, Body: []byte(body),
	})
	if err != nil {
		t.Fatal(err)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil || !ok {
		t.Fatalf("publish %q: ack %v, %v", body, ok, err)
	}
}

// beamRSS is the resident memory of the node's process, in bytes.
func beamRSS(t *testing.T, n *Node) int64 {
	t.Helper()
	pid, err := readPID(filepath.Join(n.Dir(), pidFile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmRSS for process %d", pid)
	return 0
}

// TestNodeRestart: a message a consumer holds unacknowledged, and one ready in the queue, are both
// in the durable queue after Restart; the consumer's connection was closed by the restart; a new
// connection works. Stop leaves no directory, no listener and no process. The test logs the
// node's costs (the figures in the package comment).
func TestNodeRestart(t *testing.T) {
	n, startTook := startNode(t)
	const queue = "rabbitnode.restart"
	beam, err := readPID(filepath.Join(n.Dir(), pidFile))
	if err != nil {
		t.Fatal(err)
	}

	// A consumer (prefetch 1, manual ack) holds "held" without acking it; "ready" waits in the queue.
	pubConn := dial(t, n)
	pub, err := pubConn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pub.QueueDeclare(queue, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := pub.Confirm(false); err != nil {
		t.Fatal(err)
	}
	subConn := dial(t, n)
	closed := subConn.NotifyClose(make(chan *amqp091.Error, 1))
	sub, err := subConn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := sub.Qos(1, 0, false); err != nil {
		t.Fatal(err)
	}
	deliveries, err := sub.Consume(queue, "held", false, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	publish(t, pub, queue, "held")
	select {
	case d := <-deliveries:
		if string(d.Body) != "held" {
			t.Fatalf("the consumer got %q, want held", d.Body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer got nothing within 10 s")
	}
	publish(t, pub, queue, "ready")
	if q, err := pub.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil || q.Messages != 1 {
		t.Fatalf("before the restart: %d ready (%v), want 1 (the other held by the consumer)", q.Messages, err)
	}
	rss := beamRSS(t, n)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	if err := n.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	restartTook := time.Since(began)

	for _, c := range []struct {
		name  string
		check func(t *testing.T)
	}{
		{"consumer's connection closed", func(t *testing.T) {
			select {
			case e := <-closed:
				t.Logf("the consumer's connection closed: %v", e)
			case <-time.After(5 * time.Second):
				t.Fatal("NotifyClose did not fire within 5 s of the restart")
			}
		}},
		{"same process", func(t *testing.T) {
			if !runsNode(beam, n.Name()) {
				t.Fatalf("process %d no longer runs %s: Restart restarted the process, not the application", beam, n.Name())
			}
		}},
		{"both messages kept, new connection works", func(t *testing.T) {
			ch, err := dial(t, n).Channel()
			if err != nil {
				t.Fatal(err)
			}
			q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			if q.Messages != 2 {
				t.Fatalf("after the restart %d messages in %s, want 2", q.Messages, queue)
			}
			var got []string
			for range 2 {
				d, ok, err := ch.Get(queue, true)
				if err != nil || !ok {
					t.Fatalf("get: %v, %v", ok, err)
				}
				got = append(got, string(d.Body))
			}
			if slices.Sort(got); !slices.Equal(got, []string{"held", "ready"}) {
				t.Fatalf("after the restart the queue held %q, want held and ready", got)
			}
		}},
	} {
		t.Run(c.name, c.check)
	}

	dir, url := n.Dir(), n.AMQPURL()
	began = time.Now()
	if err := n.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopTook := time.Since(began)
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "amqp://guest:guest@"), "/")
	for _, c := range []struct {
		name  string
		check func() error
	}{
		{"directory removed", func() error {
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("%s: %v, want not exist", dir, err)
			}
			return nil
		}},
		{"port closed", func() error {
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				_ = c.Close()
				return fmt.Errorf("%s still answers", addr)
			}
			return nil
		}},
		{"process ended", func() error {
			if processAlive(beam) {
				return fmt.Errorf("process %d still runs", beam)
			}
			return nil
		}},
	} {
		t.Run("stop: "+c.name, func(t *testing.T) {
			if err := c.check(); err != nil {
				t.Error(err)
			}
		})
	}
	t.Logf("figures (%s, RabbitMQ %s): start %.1f s, restart (stop_app+start_app, to a handshake) %.2f s, stop %.2f s, beam RSS %d MiB "+
		"(reproduce: go test -count=1 -run TestNodeRestart -v ./harness/real/rabbitnode/)",
		time.Now().UTC().Format("2006-01-02"), serverVersion(), startTook.Seconds(), restartTook.Seconds(), stopTook.Seconds(), rss>>20)
}

// serverVersion is the installed rabbitmq-server's version, as dpkg knows it, or "?".
func serverVersion() string {
	out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "rabbitmq-server").Output()
	if err != nil {
		return "?"
	}
	return string(out)
}

// envOwner makes the test binary an owner process (see TestMain).
const envOwner = "RABBITNODE_TEST_OWNER"

// TestMain: with envOwner=1 the test binary is a process that starts a node, prints "dir DIR",
// and waits to be killed.
func TestMain(m *testing.M) {
	if os.Getenv(envOwner) != "1" {
		os.Exit(m.Run())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	n, err := Start(ctx)
	cancel()
	if err != nil {
		fmt.Printf("error %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("dir %s\n", n.Dir())
	time.Sleep(10 * time.Minute)
	_ = n.Stop(context.Background())
	os.Exit(1)
}

// startOwner starts the test binary as an owner process (TestMain) and returns it and its node's
// directory once its node is up. Without RabbitMQ installed it skips the test (fails it under
// HARNESS_REQUIRE_INFRA=1). Whatever the test leaves of the process and its node goes when the
// test ends.
func startOwner(t *testing.T) (*exec.Cmd, string) {
	t.Helper()
	if _, err := lookBinaries(); err != nil {
		if os.Getenv(infra.EnvRequireInfra) == "1" {
			t.Fatalf("%v (%s=1)", err, infra.EnvRequireInfra)
		}
		t.Skip(err.Error())
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envOwner+"=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Scan()
		lines <- sc.Text()
		for sc.Scan() {
		}
	}()
	var dir string
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if dir == "" {
			return
		}
		if _, err := os.Stat(dir); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			name, _ := nodeNameOf(dir)
			ctl, _ := look("rabbitmqctl")
			if err := stopNode(ctx, ctl, name, dir); err != nil {
				t.Errorf("stop the owner's node: %v", err)
			}
		}
	})
	select {
	case line := <-lines:
		var ok bool
		if dir, ok = strings.CutPrefix(line, "dir "); !ok {
			t.Fatalf("the owner process: %q", line)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the owner process started no node within 2 minutes")
	}
	return cmd, dir
}

// TestSweep: Sweep stops and removes the node of a killed owner, removes the directory a dead
// owner left before it started its node, and leaves alone a live owner's node, a directory
// that is not one of the harness's and one whose nodename file names another node. It works in a temporary directory of its own (TMPDIR), so that
// no other process's sweep takes its nodes first.
func TestSweep(t *testing.T) {
	tmp, err := os.MkdirTemp("", "rabbitnode-sweep-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // the server's user reads its directory in it
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)

	// The orphan: a node whose owner, a process of its own, is SIGKILLed once the node is up,
	// after its watchdog (TestWatchdogStopsOrphan), as when a whole session is killed.
	owner, orphanDir := startOwner(t)
	orphanName, _ := nodeNameOf(orphanDir)
	orphanBeam, err := readPID(filepath.Join(orphanDir, pidFile))
	if err != nil {
		t.Fatal(err)
	}
	watchdog, err := readPID(filepath.Join(orphanDir, watchFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(watchdog, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	dead := owner.Process.Pid
	if !runsNode(orphanBeam, orphanName) {
		t.Fatalf("the node %s did not outlive its killed owner (the premise)", orphanName)
	}
	// A live owner's node needs no server to be left alone: a running node would be stopped and
	// its directory removed all the same, which is what the case checks.
	live := filepath.Join(tmp, fmt.Sprintf("%s%d-9-789", dirPrefix, os.Getpid()))
	liveNode := "harness-" + strings.TrimPrefix(filepath.Base(live), dirPrefix) + "@localhost"
	unstarted := filepath.Join(tmp, fmt.Sprintf("%s%d-1-123", dirPrefix, dead)) // killed before its owner file
	foreign := filepath.Join(tmp, dirPrefix+"notes")                            // no owner to read
	impostor := filepath.Join(tmp, fmt.Sprintf("%s%d-2-456", dirPrefix, dead))  // names another node
	for _, d := range []string{live, unstarted, foreign, impostor} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for file, text := range map[string]string{ownerFile: strconv.Itoa(os.Getpid()), nodeFile: liveNode} {
		if err := os.WriteFile(filepath.Join(live, file), []byte(text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(impostor, nodeFile), []byte("rabbit@localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	orphans, err := Orphans()
	if err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, o := range orphans {
		listed = append(listed, o.Node)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stopped, err := Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Orphans: %q; Sweep stopped %q", listed, stopped)
	unstartedNode := "harness-" + strings.TrimPrefix(filepath.Base(unstarted), dirPrefix) + "@localhost"
	for _, c := range []struct {
		name    string
		dir     string
		node    string
		swept   bool
		process int // the node's process, 0 if none
	}{
		{"killed owner's node", orphanDir, orphanName, true, orphanBeam},
		{"dead owner, no node yet", unstarted, unstartedNode, true, 0},
		{"live owner's node", live, liveNode, false, 0},
		{"not the harness's", foreign, "", false, 0},
		{"nodename of another node", impostor, "rabbit@localhost", false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, statErr := os.Stat(c.dir)
			if gone := errors.Is(statErr, os.ErrNotExist); gone != c.swept {
				t.Errorf("%s removed: %v, want %v", c.dir, gone, c.swept)
			}
			if c.node != "" && slices.Contains(stopped, c.node) != c.swept {
				t.Errorf("Sweep's list %q has %s: %v, want %v", stopped, c.node, !c.swept, c.swept)
			}
			if c.node != "" && slices.Contains(listed, c.node) != c.swept {
				t.Errorf("Orphans' list %q has %s: %v, want %v", listed, c.node, !c.swept, c.swept)
			}
			if c.process != 0 && processAlive(c.process) {
				t.Errorf("the swept node's process %d still runs", c.process)
			}
		})
	}
}

// TestNodeUnavailable: without rabbitmq-server and rabbitmqctl, Start says so in one line that
// wraps ErrUnavailable and names both, and leaves no directory.
func TestNodeUnavailable(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("PATH", t.TempDir())
	saved := sbinDirs
	sbinDirs = nil
	t.Cleanup(func() { sbinDirs = saved })
	n, err := Start(context.Background())
	if n != nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Start: %v, %v; want ErrUnavailable", n, err)
	}
	msg := err.Error()
	if strings.Contains(msg, "\n") || !strings.Contains(msg, "rabbitmq-server and rabbitmqctl") {
		t.Errorf("want one line naming both commands, got %q", msg)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) != 0 {
		t.Errorf("Start left %v", entries)
	}
}

// TestNodeAwaitOtherBroker: a broker other than the node answering on the node's port (the shared
// one, here) is not taken for the node: waiting for a starting node ends at once with
// errPortTaken, so that Start tries other ports.
func TestNodeAwaitOtherBroker(t *testing.T) {
	const shared = "amqp://guest:guest@127.0.0.1:5672/"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := handshake(ctx, shared); err != nil {
		t.Skipf("no broker on 127.0.0.1:5672 to stand in for another one: %v", err)
	}
	n := &Node{name: "harness-0-0-0@localhost", dir: t.TempDir(), amqpPort: 5672}
	if err := n.awaitAMQP(ctx, true); !errors.Is(err, errPortTaken) {
		t.Fatalf("awaitAMQP: %v, want errPortTaken", err)
	}
}

// TestNodeZero: Restart and Stop of a node that Start did not return (nil, the zero Node) are
// errors, not panics.
func TestNodeZero(t *testing.T) {
	for _, n := range []*Node{nil, {}} {
		if err := n.Restart(context.Background()); err == nil {
			t.Errorf("Restart of %#v: no error", n)
		}
		if err := n.Stop(context.Background()); err == nil {
			t.Errorf("Stop of %#v: no error", n)
		}
		if n.AMQPURL() != "" && n == nil {
			t.Errorf("AMQPURL of nil: %q", n.AMQPURL())
		}
	}
}

// TestNodePortTaken: a node whose AMQP port another process holds (a listener that accepts and
// never answers) fails to start with errPortTaken, which makes Start try other ports, and leaves
// nothing behind: no directory, no process.
func TestNodePortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("a node's failed start takes 5-10 s; not with -short")
	}
	bins, err := lookBinaries()
	if err != nil {
		if os.Getenv(infra.EnvRequireInfra) == "1" {
			t.Fatalf("%v (%s=1)", err, infra.EnvRequireInfra)
		}
		t.Skip(err.Error())
	}
	var l net.Listener
	var port int
	for l == nil {
		if port, err = freePort(0); err != nil {
			t.Fatal(err)
		}
		l, _ = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	defer l.Close()
	dist, err := freePort(port)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	began := time.Now()
	n, err := start(ctx, bins, port, dist)
	if n != nil {
		_ = n.Stop(ctx)
	}
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("start on a taken port: %v, %v; want errPortTaken", n, err)
	}
	t.Logf("start on a taken port failed in %.1f s: %v", time.Since(began).Seconds(), err)
	after, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range after {
		if !slices.Contains(before, d) && strings.Contains(d, fmt.Sprintf("%s%d-", dirPrefix, os.Getpid())) {
			t.Errorf("left %s", d)
		}
	}
}

// TestWatchdogStopsOrphan: a node whose owner process is SIGKILLed does not outlive it: its
// watchdog stops it and removes its directory, with no sweep.
func TestWatchdogStopsOrphan(t *testing.T) {
	tmp, err := os.MkdirTemp("", "rabbitnode-watchdog-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // the server's user reads its directory in it
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)
	owner, dir := startOwner(t)
	name, _ := nodeNameOf(dir)
	beam, err := readPID(filepath.Join(dir, pidFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = owner.Wait()
	deadline := time.Now().Add(time.Minute)
	for runsNode(beam, name) || dirExists(dir) {
		if time.Now().After(deadline) {
			t.Fatalf("a minute after its owner died, node %s runs: %v, its directory is there: %v", name, runsNode(beam, name), dirExists(dir))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func dirExists(dir string) bool {
	_, err := os.Stat(dir)
	return err == nil
}
