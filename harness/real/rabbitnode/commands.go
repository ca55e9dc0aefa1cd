package rabbitnode

// The node's commands and the process helpers they use: finding the RabbitMQ commands, running
// them in a process group of their own, free ports, pid files.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// freePort is a port of 127.0.0.1 in [portMin, portMax] that nothing listens on now, other
// than not.
func freePort(not int) (int, error) {
	var last error
	for range 50 {
		p := portMin + rand.IntN(portMax-portMin+1)
		if p == not {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			last = err
			continue
		}
		_ = l.Close()
		return p, nil
	}
	return 0, fmt.Errorf("rabbitnode: no free port in %d-%d on 127.0.0.1 after 50 tries: %w", portMin, portMax, last)
}

// lookBinaries finds rabbitmq-server and rabbitmqctl on PATH, then in the sbin directories that
// PATH often lacks for users other than root.
func lookBinaries() (binaries, error) {
	var b binaries
	var missing []string
	for _, c := range []struct {
		name string
		to   *string
	}{{"rabbitmq-server", &b.server}, {"rabbitmqctl", &b.ctl}} {
		p, err := look(c.name)
		if err != nil {
			missing = append(missing, c.name)
			continue
		}
		*c.to = p
	}
	if len(missing) > 0 {
		return binaries{}, fmt.Errorf("%w: %s not found on PATH nor in /usr/sbin, /usr/local/sbin (install RabbitMQ, e.g. apt-get install rabbitmq-server)",
			ErrUnavailable, strings.Join(missing, " and "))
	}
	return b, nil
}

// sbinDirs are where look finds a command that is not on PATH.
var sbinDirs = []string{"/usr/sbin", "/usr/local/sbin", "/sbin"}

// look finds the command name.
func look(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range sbinDirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// run runs a RabbitMQ command in a process group of its own, which ctx's end kills whole (the
// Debian wrappers run the real command under su). Its error has the first line of its output.
func run(ctx context.Context, name string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return string(out), fmt.Errorf("rabbitnode: %s %s: %w%s", filepath.Base(name), strings.Join(args, " "), err, outputHint(out))
	}
	return string(out), nil
}

// outputHint is the first line of a command's output that says what went wrong, for an error.
func outputHint(out []byte) string {
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l != "" && !strings.HasPrefix(l, "Stopping") && !strings.HasPrefix(l, "Starting") {
			return ": " + clipLine(l)
		}
	}
	return ""
}

// clipLine shortens a line for an error message.
func clipLine(l string) string {
	l = strings.TrimSpace(l)
	if len(l) > 200 {
		return l[:200] + "..."
	}
	return l
}

// withDefaultTimeout is ctx, with timeout d when ctx has no deadline of its own.
func withDefaultTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, d)
}

// readPID reads a file that holds a pid.
func readPID(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("rabbitnode: %s holds no pid", path)
	}
	return pid, nil
}

// processAlive says whether process pid exists (a process of another user counts; a zombie does
// not).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		i := strings.LastIndexByte(string(stat), ')')
		return i < 0 || !strings.HasPrefix(string(stat[i+1:]), " Z")
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
