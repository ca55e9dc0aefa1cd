package real

// broker-restart: a real restart of RabbitMQ, on a node of the process's own (package
// rabbitnode), so that runs on the shared server are never disturbed. A run whose fault is
// broker-restart declares its queue on that node and points its workers' broker proxies at it;
// runs that restart the broker take turns on it.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/rabbitnode"
	"github.com/deliveryharness/harness/harness/real/worker"
)

// restartNode is the process's own RabbitMQ node, started at the first broker-restart run.
var restartNode struct {
	mu   sync.Mutex // guards node and err
	node *rabbitnode.Node
	err  error
	turn sync.Mutex // held by the run that uses the node
}

// acquireRestartNode starts the node on first use and holds it for one run; release gives it
// back. Each wait has ctx's deadline.
func acquireRestartNode(ctx context.Context) (node *rabbitnode.Node, release func(), err error) {
	restartNode.mu.Lock()
	if restartNode.node == nil && restartNode.err == nil {
		restartNode.node, restartNode.err = rabbitnode.Start(ctx)
	}
	node, err = restartNode.node, restartNode.err
	restartNode.mu.Unlock()
	if err != nil {
		return nil, nil, fmt.Errorf("real: broker-restart needs a RabbitMQ node of its own: %w", err)
	}
	locked := make(chan struct{})
	go func() { restartNode.turn.Lock(); close(locked) }()
	select {
	case <-locked:
		return node, restartNode.turn.Unlock, nil
	case <-ctx.Done():
		go func() { <-locked; restartNode.turn.Unlock() }()
		return nil, nil, fmt.Errorf("real: waiting for the broker-restart node: %w", ctx.Err())
	}
}

// broker is the RabbitMQ server the run uses: the shared one, or for broker-restart the process's
// own node, held for the run until release.
func (r *run) broker(ctx context.Context) (url string, release func(), err error) {
	if r.sc.Fault != fault.BrokerRestart {
		return r.b.Infra.AMQPURL, func() {}, nil
	}
	node, release, err := acquireRestartNode(ctx)
	if err != nil {
		return "", nil, err
	}
	r.node = node
	return node.AMQPURL(), release, nil
}

// StopRestartNode stops the RabbitMQ node this process started for broker-restart runs, if any.
// The command and the tests call it on their way out; the node of a process that died is stopped
// by the next rabbitnode.Start, or by `simulate clean`.
func StopRestartNode(ctx context.Context) error {
	restartNode.mu.Lock()
	defer restartNode.mu.Unlock()
	n := restartNode.node
	restartNode.node, restartNode.err = nil, nil
	if n == nil {
		return nil
	}
	return n.Stop(ctx)
}

// brokerRestart restarts the run's RabbitMQ node. Every worker's broker link goes down at once,
// as for broker-down (the link of the worker it fired at under that worker's protocol event), so
// that no client talks to a broker on its way down; behind the cut the node really stops its
// application and starts it again (durable queues and persistent messages recover from disk;
// what a closed connection held unacknowledged is back in the queue). The links come back when
// the node answers again.
func brokerRestart(ctx context.Context, r *run, w *wproc, at worker.Gate, f *history.Fault) (bool, error) {
	if r.node == nil {
		return false, errors.New("real: broker-restart: the run has no RabbitMQ node of its own")
	}
	heal, err := r.cutBroker(w, at, f)
	if err != nil {
		return false, err
	}
	done := make(chan error, 1)
	started := time.Now()
	go func() { done <- r.node.Restart(ctx) }()
	var poll func()
	poll = func() {
		select {
		case err := <-done:
			heal()
			if err != nil {
				r.asyncErr = fmt.Errorf("broker-restart: %w", err)
				return
			}
			r.note("harness", history.OpHeal, "", fmt.Sprintf("broker back after its restart (stop_app, start_app: %d ms)", time.Since(started).Milliseconds()))
		default:
			r.after(20*time.Millisecond, "", poll)
		}
	}
	r.after(20*time.Millisecond, "", poll)
	return false, nil
}
