package rabbitnode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// sweepTimeout is Sweep's deadline for a ctx that has none.
const sweepTimeout = time.Minute

// Orphan is a node directory whose owning process is gone.
type Orphan struct {
	Node  string // the Erlang node name
	Dir   string
	Owner int // the pid of the process that started it
}

// Orphans lists the node directories (harness-rabbitnode-* under os.TempDir()) whose owner
// process is dead, and touches nothing: what Sweep would stop and remove. A directory whose owner
// cannot be read, or whose nodename file names another node than the directory's name does, is
// not the harness's and is left out.
func Orphans() ([]Orphan, error) {
	base := os.TempDir()
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("rabbitnode: list %s: %w", base, err)
	}
	var out []Orphan
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), dirPrefix) || e.Type()&fs.ModeType != fs.ModeDir {
			continue // symbolic links and files are not node directories
		}
		dir := filepath.Join(base, e.Name())
		owner, ok := ownerOf(dir)
		if !ok || processAlive(owner) {
			continue
		}
		name, ok := nodeNameOf(dir)
		if !ok {
			continue
		}
		out = append(out, Orphan{Node: name, Dir: dir, Owner: owner})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

// ownerOf is the pid in dir's owner file or, when the owner died before writing it, the pid in
// dir's name (harness-rabbitnode-<pid>-...).
func ownerOf(dir string) (int, bool) {
	if pid, err := readPID(filepath.Join(dir, ownerFile)); err == nil {
		return pid, true
	}
	rest := strings.TrimPrefix(filepath.Base(dir), dirPrefix)
	num, _, _ := strings.Cut(rest, "-")
	pid, err := strconv.Atoi(num)
	return pid, err == nil && pid > 0
}

// nodeNameOf is the name Start gives the node in dir (harness-<what follows the prefix of dir's
// name>@localhost), and whether dir's nodename file agrees, when it has one. The name never comes
// from the file alone: a file in a shared temporary directory must not make Sweep stop another node
// (the shared rabbit@localhost, say).
func nodeNameOf(dir string) (string, bool) {
	name := "harness-" + strings.TrimPrefix(filepath.Base(dir), dirPrefix) + "@localhost"
	raw, err := os.ReadFile(filepath.Join(dir, nodeFile))
	if err != nil {
		return name, errors.Is(err, fs.ErrNotExist) // killed before it wrote the file
	}
	return name, strings.TrimSpace(string(raw)) == name
}

// Sweep stops the nodes whose owner process is dead (Orphans) and removes their directories; it
// returns the names of the nodes it removed. A node is stopped with rabbitmqctl stop; its process,
// if it outlives that, is killed, and only it (the process the node's pid file names, and only if
// its environment names the node): the shared node and epmd are never touched. Two processes that
// sweep at once do not sweep the same node (a claim file in its directory). Within ctx's deadline,
// or a minute. Sweep works without RabbitMQ installed (it then only kills and removes).
func Sweep(ctx context.Context) (stopped []string, err error) {
	orphans, err := Orphans()
	if err != nil {
		return nil, err
	}
	if len(orphans) == 0 {
		return nil, nil
	}
	ctx, cancel := withDefaultTimeout(ctx, sweepTimeout)
	defer cancel()
	ctl, _ := look("rabbitmqctl")
	var errs []error
	for _, o := range orphans {
		if !claim(o.Dir) {
			continue
		}
		if err := stopNode(ctx, ctl, o.Node, o.Dir); err != nil {
			_ = os.Remove(filepath.Join(o.Dir, sweepFile)) // the next sweep tries again
			errs = append(errs, err)
			continue
		}
		stopped = append(stopped, o.Node)
	}
	switch len(errs) {
	case 0:
		return stopped, nil
	case 1:
		return stopped, errs[0]
	}
	return stopped, fmt.Errorf("%w (and %d more nodes not swept)", errs[0], len(errs)-1)
}

// claim makes this process the sweeper of dir, unless a live process already is.
func claim(dir string) bool {
	path := filepath.Join(dir, sweepFile)
	me := []byte(strconv.Itoa(os.Getpid()) + "\n")
	for range 2 {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, werr := f.Write(me)
			cerr := f.Close()
			return werr == nil && cerr == nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return false // the directory is gone: swept by someone else
		}
		if pid, err := readPID(path); err == nil && processAlive(pid) {
			return false
		} else if err != nil {
			// Being written by another sweeper, or left half-written: leave it to a later sweep
			// unless it is old.
			if st, serr := os.Stat(path); serr != nil || time.Since(st.ModTime()) < time.Minute {
				return false
			}
		}
		_ = os.Remove(path) // its sweeper died
	}
	return false
}
