package real

// The run's worker processes: started with their configuration, killed, stopped.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/worker"
)

// spawn starts the worker process for a component.
func (r *run) spawn(ctx context.Context, name string) error {
	role := worker.RoleConsumer
	switch history.RoleOf(name) {
	case history.RoleProducer:
		role = worker.RoleProducer
	case "relay":
		role = worker.RoleRelay
	}
	cfg := worker.Config{
		Role: role, Name: name, Producer: r.sc.Producer, Consumer: r.sc.Consumer, Workload: r.sc.Workload,
		Postgres: r.pgURL[name], AMQP: r.mqURL[name], Gateway: r.gwURL[name], Schema: r.schema.Name, Slot: r.slotName(), Queue: r.queueName(), Group: component.Group,
		Prefetch: r.sc.Prefetch, Batch: r.sc.Batch, Epoch: r.epoch, Timeouts: r.b.Timeouts,
		CatchUp: r.catchesUp(name),
	}
	r.natsConfig(&cfg)
	switch {
	case role == worker.RoleProducer && r.svc != nil:
		cfg.Commands = r.sc.Commands[r.cursor:]
	case role == worker.RoleProducer:
		cfg.Commands = r.share(name)[r.cursors[name]:]
	}
	if r.svc != nil {
		cfg.Service, cfg.QueueArgs = r.svc.s.Name(), r.svc.env.QueueArgs
		r.svc.incarnate(name) // its connections are not frozen by a dead incarnation's crash
	}
	raw, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, r.exe)
	cmd.Env = append(os.Environ(), worker.Env+"="+string(raw))
	w := &wproc{name: name, cmd: cmd}
	cmd.Stderr = &w.err
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start worker %s: %w", name, err)
	}
	w.stdin = stdin
	r.mu.Lock()
	if old := r.workers[name]; old != nil {
		w.gen = old.gen + 1
	}
	r.workers[name] = w
	gen := w.gen
	r.mu.Unlock()
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		send := func(m wmsg) bool {
			select {
			case r.msgs <- m:
				return true
			case <-r.done:
				return false
			}
		}
		for sc.Scan() {
			if m, err := worker.Decode(sc.Bytes()); err == nil && !send(wmsg{w: w, gen: gen, m: m}) {
				return
			}
		}
		send(wmsg{w: w, gen: gen, eof: true})
	}()
	return nil
}

// kill SIGKILLs a worker and waits for it.
func (r *run) kill(w *wproc) {
	if w.dead {
		return
	}
	w.dead = true
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

func (r *run) stopAll() {
	r.mu.Lock()
	ws := make([]*wproc, 0, len(r.workers))
	for _, w := range r.workers {
		ws = append(ws, w)
	}
	r.mu.Unlock()
	for _, w := range ws {
		_ = w.stdin.Close()
		r.kill(w)
	}
}
