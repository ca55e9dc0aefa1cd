package rabbitnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	amqp091 "github.com/rabbitmq/amqp091-go"
)

// ErrUnavailable: RabbitMQ is not installed here, so no node can be started. Start's error wraps
// it in one line that says what is missing.
var ErrUnavailable = errors.New("rabbitnode: cannot start a RabbitMQ node")

// Default deadlines, for a ctx that has none.
const (
	startTimeout   = 60 * time.Second // rabbitmq-server -detached to a real AMQP handshake
	restartTimeout = 60 * time.Second // stop_app, start_app, handshake
	stopTimeout    = 30 * time.Second // rabbitmqctl stop, the beam's exit
)

// startSweepTimeout is the share of Start's deadline that its Sweep may take.
const startSweepTimeout = 20 * time.Second

// Ports: both of a node's ports are drawn from this range, below Linux's ephemeral range
// (32768-60999), so that no outgoing connection takes one between the check and the node's bind.
const (
	portMin = 10000
	portMax = 32767
)

// startAttempts is how many pairs of ports Start tries when another process took one first.
const startAttempts = 4

// Files in a node's directory.
const (
	dirPrefix   = "harness-rabbitnode-"
	ownerFile   = "owner"    // the owning process's pid
	nodeFile    = "nodename" // the Erlang node name
	pidFile     = "rabbitmq.pid"
	watchFile   = "watchdog" // the watchdog's pid (watch)
	confFile    = "rabbitmq.conf"
	pluginsFile = "enabled_plugins"
	sweepFile   = "sweeping" // the pid of the process that sweeps the directory
)

// Node is a RabbitMQ node started by this process, with its own name, ports and directory.
// Its methods are safe for concurrent use.
type Node struct {
	name     string // harness-<pid>-<n>-<random>@localhost, like its directory
	dir      string
	amqpPort int
	distPort int
	bins     binaries

	mu       sync.Mutex
	stopped  bool
	watchdog *os.Process // stops the node once its owner is gone (watch)
}

// binaries are the RabbitMQ commands a node is driven with.
type binaries struct{ server, ctl string }

// seq numbers the nodes of this process, so that one process may run several.
var seq struct {
	sync.Mutex
	n int
}

// Start starts a new node owned by this process: it first sweeps the nodes of dead processes
// (Sweep), then starts `rabbitmq-server -detached` with a configuration of the node's own on two
// free ports of 127.0.0.1, and returns once the AMQP port answers a real handshake (within ctx's
// deadline, or a minute). A port that another process takes between the check and the node's bind
// makes Start try other ports. When rabbitmq-server or rabbitmqctl is not installed, the error
// wraps ErrUnavailable. On any error nothing of the node is left.
func Start(ctx context.Context) (*Node, error) {
	bins, err := lookBinaries()
	if err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx, startTimeout)
	defer cancel()
	// What Sweep cannot remove within its share of the deadline stays for the next sweep; it does
	// not keep this node from starting.
	sctx, scancel := context.WithTimeout(ctx, startSweepTimeout)
	_, _ = Sweep(sctx)
	scancel()
	var lastErr error
	for range startAttempts {
		amqpPort, err := freePort(0)
		if err != nil {
			return nil, err
		}
		distPort, err := freePort(amqpPort)
		if err != nil {
			return nil, err
		}
		n, err := start(ctx, bins, amqpPort, distPort)
		if err == nil {
			return n, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

// errPortTaken: the node could not bind one of its ports.
var errPortTaken = errors.New("rabbitnode: a port of the node was taken")

// start makes the node's directory and starts the node in it, on the given ports (free a moment
// ago).
func start(ctx context.Context, bins binaries, amqpPort, distPort int) (_ *Node, err error) {
	seq.Lock()
	seq.n++
	num := seq.n
	seq.Unlock()
	pid := os.Getpid()
	dir, err := os.MkdirTemp(os.TempDir(), fmt.Sprintf("%s%d-%d-", dirPrefix, pid, num))
	if err != nil {
		return nil, fmt.Errorf("rabbitnode: make the node's directory: %w", err)
	}
	n := &Node{
		name:     "harness-" + strings.TrimPrefix(filepath.Base(dir), dirPrefix) + "@localhost",
		dir:      dir,
		amqpPort: amqpPort,
		distPort: distPort,
		bins:     bins,
	}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopTimeout)
			defer cancel()
			_ = n.Stop(sctx)
		}
	}()
	if err := n.prepare(pid); err != nil {
		return nil, err
	}
	if _, err := run(ctx, n.bins.server, n.serverEnv(), "-detached"); err != nil {
		return nil, err
	}
	if err := n.awaitAMQP(ctx, true); err != nil {
		return nil, err
	}
	if err := n.watch(pid); err != nil {
		return nil, err
	}
	return n, nil
}

// watch starts the node's watchdog: a shell of its own session that polls the owner process
// every second and, once the owner is gone (however it ended: an exit without Stop, a SIGKILL),
// stops the node and removes its directory. Stop ends the watchdog first.
func (n *Node) watch(owner int) error {
	const script = `while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" -n "$3" stop >/dev/null 2>&1; rm -rf -- "$4"`
	cmd := exec.Command("sh", "-c", script, "rabbitnode-watchdog", strconv.Itoa(owner), n.bins.ctl, n.name, n.dir)
	cmd.Env = baseEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("rabbitnode: start the node's watchdog: %w", err)
	}
	n.watchdog = cmd.Process
	go func() { _ = cmd.Wait() }() // reaped if it ends while the owner lives (Stop kills it)
	if err := os.WriteFile(filepath.Join(n.dir, watchFile), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("rabbitnode: record the node's watchdog: %w", err)
	}
	return nil
}

// prepare writes the node's files: its owner, its name, its configuration, and the directories
// the server writes to, owned by the rabbitmq user when this process runs as root (the server
// drops to that user).
func (n *Node) prepare(pid int) error {
	files := []struct {
		name, text string
	}{
		{ownerFile, strconv.Itoa(pid) + "\n"},
		{nodeFile, n.name + "\n"},
		// cluster_name is how awaitAMQP tells this node from another listener on its port.
		{confFile, fmt.Sprintf("listeners.tcp.local = 127.0.0.1:%d\ncluster_name = %s\n", n.amqpPort, n.name)},
		{pluginsFile, "[].\n"},
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(n.dir, f.name), []byte(f.text), 0o644); err != nil {
			return fmt.Errorf("rabbitnode: write the node's %s: %w", f.name, err)
		}
	}
	for _, sub := range []string{"mnesia", "log"} {
		if err := os.Mkdir(filepath.Join(n.dir, sub), 0o755); err != nil {
			return fmt.Errorf("rabbitnode: make the node's directory: %w", err)
		}
	}
	if err := os.Chmod(n.dir, 0o755); err != nil {
		return fmt.Errorf("rabbitnode: open the node's directory to the server: %w", err)
	}
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("rabbitmq")
	if err != nil {
		return nil // no rabbitmq user: the server runs as root
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return fmt.Errorf("rabbitnode: the rabbitmq user has uid %q, gid %q", u.Uid, u.Gid)
	}
	// The directory itself too: the server writes its pid file there.
	for _, p := range []string{n.dir, filepath.Join(n.dir, "mnesia"), filepath.Join(n.dir, "log")} {
		if err := os.Chown(p, uid, gid); err != nil {
			return fmt.Errorf("rabbitnode: give the node's directory to the rabbitmq user: %w", err)
		}
	}
	return nil
}

// serverEnv is the environment of rabbitmq-server: this process's, without its RabbitMQ and
// Erlang distribution settings, plus the node's.
func (n *Node) serverEnv() []string {
	env := baseEnv()
	return append(env,
		"RABBITMQ_CONFIG_FILE="+filepath.Join(n.dir, confFile),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(n.dir, pluginsFile),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(n.dir, "advanced.config"), // absent: none
		"RABBITMQ_NODENAME="+n.name,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1",
		"RABBITMQ_NODE_PORT="+strconv.Itoa(n.amqpPort),
		"RABBITMQ_DIST_PORT="+strconv.Itoa(n.distPort),
		"RABBITMQ_MNESIA_BASE="+filepath.Join(n.dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(n.dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(n.dir, pidFile),
		"RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS=-kernel inet_dist_use_interface {127,0,0,1}",
		"ERL_EPMD_ADDRESS=127.0.0.1",
		"ERL_CRASH_DUMP="+filepath.Join(n.dir, "log", "erl_crash.dump"), // not in the shared node's home
	)
}

// baseEnv is this process's environment without the variables that would point a RabbitMQ
// command at another node.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RABBITMQ_") || strings.HasPrefix(kv, "ERL_EPMD_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// Name is the node's Erlang name, harness-<pid>-...@localhost.
func (n *Node) Name() string {
	if n == nil {
		return ""
	}
	return n.name
}

// Dir is the node's directory.
func (n *Node) Dir() string {
	if n == nil {
		return ""
	}
	return n.dir
}

// AMQPURL is the URL of the node's AMQP listener (guest, which RabbitMQ admits on loopback only);
// "" for a nil node.
func (n *Node) AMQPURL() string {
	if n == nil {
		return ""
	}
	return fmt.Sprintf("amqp://guest:guest@127.0.0.1:%d/", n.amqpPort)
}

// Restart stops the node's RabbitMQ application and starts it again (rabbitmqctl stop_app, then
// start_app), as a broker restart does: every connection to the node is closed, durable queues and
// persistent messages survive, unacknowledged deliveries return to their queues. It returns once
// the AMQP port answers a handshake again, within ctx's deadline or a minute. The port is closed
// while the application is stopped: a process that binds it meanwhile makes start_app, and so
// Restart, fail.
func (n *Node) Restart(ctx context.Context) error {
	if n == nil || n.dir == "" {
		return errors.New("rabbitnode: restart: not a node that Start returned")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return fmt.Errorf("rabbitnode: restart %s: the node is stopped", n.name)
	}
	ctx, cancel := withDefaultTimeout(ctx, restartTimeout)
	defer cancel()
	for _, op := range []string{"stop_app", "start_app"} {
		if _, err := run(ctx, n.bins.ctl, baseEnv(), "-n", n.name, op); err != nil {
			return fmt.Errorf("rabbitnode: restart %s: %w", n.name, err)
		}
	}
	if err := n.awaitAMQP(ctx, false); err != nil {
		return fmt.Errorf("rabbitnode: restart %s: %w", n.name, err)
	}
	return nil
}

// Stop stops the node (rabbitmqctl stop, then a wait for its process to end; that process is
// killed if it still runs 10 s later) and removes its directory. Within ctx's deadline, or 30 s.
// Stopping a stopped node does nothing.
func (n *Node) Stop(ctx context.Context) error {
	if n == nil || n.dir == "" {
		return errors.New("rabbitnode: stop: not a node that Start returned")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		return nil
	}
	ctx, cancel := withDefaultTimeout(ctx, stopTimeout)
	defer cancel()
	if n.watchdog != nil {
		_ = n.watchdog.Kill()
	}
	if err := stopNode(ctx, n.bins.ctl, n.name, n.dir); err != nil {
		return err
	}
	n.stopped = true
	return nil
}

// stopGrace is how long stopNode lets a node's process end by itself after rabbitmqctl stop.
const stopGrace = 10 * time.Second

// stopNode stops the node name whose directory is dir, and removes dir: rabbitmqctl stop (when
// ctl is known), a wait for the node's process to end (stopGrace at most), then SIGKILL to that
// process if it still runs, and only to it: a process whose environment does not name the node is
// never signalled.
func stopNode(ctx context.Context, ctl, name, dir string) error {
	beam, beamErr := readPID(filepath.Join(dir, pidFile))
	var ctlErr error
	if ctl != "" && name != "" {
		_, ctlErr = run(ctx, ctl, baseEnv(), "-n", name, "stop")
	}
	if beamErr == nil && name != "" {
		if ctlErr == nil {
			gctx, cancel := context.WithTimeout(ctx, stopGrace)
			_ = awaitExit(gctx, beam, name)
			cancel()
		}
		if runsNode(beam, name) {
			if p, err := os.FindProcess(beam); err == nil {
				_ = p.Signal(syscall.SIGKILL)
			}
			if err := awaitExit(ctx, beam, name); err != nil {
				return fmt.Errorf("rabbitnode: stop %s: its process %d still runs: %w (rabbitmqctl: %v)",
					name, beam, err, ctlErr)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("rabbitnode: remove the directory of %s: %w", name, err)
	}
	return nil
}

// awaitExit waits until process pid no longer runs the node name.
func awaitExit(ctx context.Context, pid int, name string) error {
	for runsNode(pid, name) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// runsNode says whether process pid is alive and is the node name: its environment sets
// RABBITMQ_NODENAME=name (the node's name is not on its command line). Where /proc cannot be
// read, it says false.
func runsNode(pid int, name string) bool {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		// A zombie has exited; its environ reads empty anyway, but say so explicitly.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
			return false
		}
	}
	for _, kv := range strings.Split(string(raw), "\x00") {
		if kv == "RABBITMQ_NODENAME="+name {
			return true
		}
	}
	return false
}

// awaitAMQP waits until the node's AMQP port completes a handshake with guest/guest, with the
// node's own cluster name (not another broker that took the port). At start
// (starting), a node process that died (its pid file names a process gone) ends the wait at once,
// with errPortTaken when its log says a port was in use.
func (n *Node) awaitAMQP(ctx context.Context, starting bool) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(n.amqpPort))
	var last error
	for {
		name, err := handshake(ctx, n.AMQPURL())
		switch {
		case err == nil && name == n.name:
			return nil
		case err == nil:
			// Another broker took the port before the node could: the node cannot bind it.
			last = fmt.Errorf("%w: %s answers on %s", errPortTaken, name, addr)
			if starting {
				return last
			}
		default:
			last = err
		}
		if starting {
			if err := n.diedAtStart(); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rabbitnode: %s: no AMQP handshake on %s: %w (last: %v)%s",
				n.name, addr, ctx.Err(), last, n.logHint())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// handshake opens and closes one AMQP connection to url, with a short deadline, and returns the
// cluster name the server announced.
func handshake(ctx context.Context, url string) (string, error) {
	d := net.Dialer{Timeout: time.Second}
	conn, err := amqp091.DialConfig(url, amqp091.Config{
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return c, c.SetDeadline(time.Now().Add(2 * time.Second)) // amqp091 clears it after the handshake
		},
	})
	if err != nil {
		return "", err
	}
	name, _ := conn.Properties["cluster_name"].(string)
	return name, conn.Close()
}

// diedAtStart is an error when the node's process, once it wrote its pid file, is gone.
func (n *Node) diedAtStart() error {
	beam, err := readPID(filepath.Join(n.dir, pidFile))
	if err != nil || processAlive(beam) {
		return nil
	}
	log, _ := os.ReadFile(n.logPath())
	if strings.Contains(string(log), "eaddrinuse") {
		return fmt.Errorf("%w: %s (ports %d, %d)", errPortTaken, n.name, n.amqpPort, n.distPort)
	}
	return fmt.Errorf("rabbitnode: %s exited while starting%s", n.name, n.logHint())
}

// logPath is the node's log file.
func (n *Node) logPath() string { return filepath.Join(n.dir, "log", n.name+".log") }

// logHint is the last error line of the node's log, for an error message, or "".
func (n *Node) logHint() string {
	raw, err := os.ReadFile(n.logPath())
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "[error]") {
			return "; its log: " + clipLine(lines[i])
		}
	}
	return ""
}
