package real

// A service worker: a process of a team's service (service mode), this binary re-executed. It
// runs the service's code for its role on connections through its own proxies; the parent sees
// its traffic through the wire toxics and kills it there. The worker talks to the parent only
// at the producer's commands and at the service's own points.

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/worker"
	"github.com/deliveryharness/harness/service"
)

// serviceWorkerMain runs a service worker and exits: 0 once told to stop, exitUsage when it
// cannot run the service at all, 1 when the service's loop returned before it was told to stop.
func serviceWorkerMain(cfg worker.Config) {
	fail := func(code int, format string, args ...any) {
		fmt.Fprintf(os.Stderr, "worker %s: %s\n", cfg.Name, fmt.Sprintf(format, args...))
		os.Exit(code)
	}
	p, _, err := service.Strategies(cfg.Service)
	if err != nil {
		fail(exitUsage, "%v (register it in init, or in TestMain before the worker hook)", err)
	}
	s, _ := service.Of(p)
	svc, err := s.New()
	if err != nil {
		fail(exitUsage, "%v", err)
	}
	// The parent's replies, and the end of the run: stdin closes, the loops' context ends.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	replies := make(chan struct{})
	go func() {
		in := bufio.NewReader(os.Stdin)
		for {
			if _, err := in.ReadString('\n'); err != nil {
				cancel()
				return
			}
			select {
			case replies <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
	}()
	link := worker.NewLink(nil, os.Stdout) // messages out; the replies come through replies
	ask := func(g worker.Gate) bool {
		link.Send(worker.Message{Gate: &g})
		select {
		case <-replies:
			return true
		case <-ctx.Done():
			return false
		}
	}
	declared := s.Declared(cfg.Name)
	env := service.Env{
		Proc: cfg.Name, Postgres: cfg.Postgres, AMQP: cfg.AMQP, Gateway: cfg.Gateway, Schema: cfg.Schema,
		Queue: cfg.Queue, QueueArgs: cfg.QueueArgs, Workload: cfg.Workload, Prefetch: max(1, cfg.Prefetch),
	}
	env = service.WithPoint(env, func(_ context.Context, name string) {
		if !slices.Contains(declared, name) {
			fail(exitUsage, "service %s passed fault point %q, which its Points do not declare for %s (declared: %q)", cfg.Service, name, history.RoleOf(cfg.Name), declared)
		}
		ask(worker.Gate{Kind: worker.GatePoint, Point: name})
	})
	epoch := cfg.Epoch
	now := func() int64 { return time.Since(epoch).Milliseconds() }
	switch cfg.Role {
	case worker.RoleProducer:
		for _, m := range cfg.Commands {
			if !ask(worker.Gate{Kind: worker.GateProduce, Msg: m.ID}) {
				os.Exit(0)
			}
			err := svc.Handle(ctx, env, m)
			e := history.Event{Time: now(), Proc: cfg.Name, Op: history.OpProduce, Outcome: history.OK, Msg: m.ID, Key: m.Key}
			if err != nil {
				e.Outcome, e.Detail = history.Fail, err.Error()
			}
			link.Send(worker.Message{Event: &e})
		}
		link.Send(worker.Message{Done: true})
		<-ctx.Done()
	case worker.RoleRelay:
		r, ok := svc.(service.Relayer)
		if !ok {
			fail(exitUsage, "service %s has no relay", cfg.Service)
		}
		err := r.Relay(ctx, env)
		if ctx.Err() == nil {
			fail(1, "Relay returned before the run told it to stop: %v", err)
		}
	case worker.RoleConsumer:
		err := svc.Consume(ctx, env)
		if ctx.Err() == nil {
			fail(1, "Consume returned before the run told it to stop: %v", err)
		}
	default:
		fail(exitUsage, "unknown role %q", cfg.Role)
	}
	os.Exit(0)
}
