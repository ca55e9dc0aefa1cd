package real

// The chain workload's downstream hop on real servers (Orders -> Payments -> Shipping): the
// consumer workers are the payment service, whose store's outbox statements reach chain_outbox
// (pg.Store.ChainMiddle) and whose effects emit in their transaction (component.ChainStore). The
// harness runs the rest in this process, correct and outside the fault schedule, straight to the
// servers (no proxy, no gate): the outbox relay publishing chain_outbox to a second queue of the
// run's, and the shipping service, an inbox consumer recording shipments. Both record their
// calls in the run's history.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// ChainQueueSuffix ends the run id of the chain's second queue: harness.<run id>_ship.events.
const ChainQueueSuffix = "_ship"

// chainRun is a chain run's downstream hop.
type chainRun struct {
	queue    *amqp.Queue
	stores   []*pg.Store
	closers  []func() error
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	inflight atomic.Int64 // deliveries the shipping consumer took and has not settled
}

// isChain reports whether the named workload's consumer emits downstream.
func isChain(name string) bool {
	w, err := workload.Lookup(name)
	return err == nil && w.Downstream != ""
}

// chainStore is a consumer worker's store in a chain run (component.ChainStore), unless the
// strategy emits its own downstream messages (component.Emitter); s as it is in other runs.
func chainStore(s strategies.Store, c strategies.Consumer, name string) strategies.Store {
	if !isChain(name) || component.Emits(c) {
		return s
	}
	return component.ChainStore(s)
}

// startChain declares the second queue and starts the relay and the shipping consumer, for a
// chain run; nothing otherwise. stopChain undoes it, also after a failure.
func (r *run) startChain(ctx context.Context, amqpURL string) error {
	if !isChain(r.sc.Workload) {
		return nil
	}
	c := &chainRun{}
	r.chain = c
	var err error
	if c.queue, err = amqp.DeclareQueue(ctx, amqpURL, r.runID+ChainQueueSuffix); err != nil {
		return err
	}
	newStore := func() (*pg.Store, error) {
		s, err := pg.NewStore(ctx, r.b.Infra.PostgresURL, r.schema.Name, r.sc.Workload)
		if err == nil {
			c.stores = append(c.stores, s)
		}
		return s, err
	}
	relayStore, err := newStore()
	if err != nil {
		return err
	}
	shipStore, err := newStore()
	if err != nil {
		return err
	}
	t := r.b.Timeouts
	pub, err := amqp.NewPublisher(ctx, amqpURL, c.queue.Name, t.Confirm)
	if err != nil {
		return err
	}
	c.closers = append(c.closers, pub.Close)
	sub, err := amqp.NewSubscription(ctx, amqpURL, c.queue.Name, 1, t.Idle)
	if err != nil {
		return err
	}
	c.closers = append(c.closers, sub.Close)
	log := runLog{r}
	cctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	renv := strategies.RelayEnv{
		Store:     record.Store(relayStore.ChainMiddle(), log, component.ShipRelay),
		Publisher: record.Publisher(pub, log, component.ShipRelay),
		Faults:    noFaults{},
		Clock:     Clock{},
		Batch:     max(1, r.sc.Batch),
	}
	cenv := strategies.ConsumerEnv{
		Group:  component.ShippingGroup,
		Store:  record.Store(shipStore.ChainShipping(), log, component.Shipping),
		Sub:    record.Subscription(&countedSub{Subscription: sub, n: &c.inflight}, log, component.Shipping),
		Faults: noFaults{},
		Clock:  Clock{},
	}
	c.wg.Add(2)
	go func() {
		defer c.wg.Done()
		component.Relay(cctx, chainHost{}, strategies.Outbox{}, renv, t.RelayPoll)
	}()
	go func() {
		defer c.wg.Done()
		component.Consumer(cctx, chainHost{}, strategies.Inbox{}, cenv, t.Reconnect)
	}()
	return nil
}

// chainSettled: the payment service's outbox is published, the second queue is empty and the
// shipping consumer holds no delivery.
func (r *run) chainSettled(ctx context.Context) (bool, error) {
	c := r.chain
	if c == nil {
		return true, nil
	}
	if c.inflight.Load() > 0 {
		return false, nil
	}
	n, err := r.schema.ChainUnpublished(ctx)
	if err != nil || n > 0 {
		return false, err
	}
	ready, err := c.queue.Depth(ctx)
	if err != nil || ready > 0 {
		return false, err
	}
	return c.inflight.Load() == 0, nil
}

// stopChain stops the relay and the shipping consumer and closes their connections; the queue
// stays for deleteChainQueue, after the final reads.
func (r *run) stopChain() {
	c := r.chain
	if c == nil || c.cancel == nil {
		return
	}
	c.cancel()
	c.wg.Wait()
	c.cancel = nil
	for _, f := range c.closers {
		_ = f()
	}
	for _, s := range c.stores {
		s.Close()
	}
}

// deleteChainQueue removes the second queue.
func (r *run) deleteChainQueue() error {
	c := r.chain
	if c == nil || c.queue == nil {
		return nil
	}
	r.stopChain()
	err := c.queue.Delete(context.Background())
	_ = c.queue.Close()
	if err != nil {
		return fmt.Errorf("chain queue: %w", err)
	}
	return nil
}

// noFaults: the downstream hop passes no fault point.
type noFaults struct{}

func (noFaults) Point(context.Context, string) {}

// chainHost is the downstream hop's component.Host: the wall clock; idleness is read from the
// servers (chainSettled), not from the components.
type chainHost struct{}

func (chainHost) Idle()                                      {}
func (chainHost) Poll(ctx context.Context, d time.Duration)  { Clock{}.Sleep(ctx, d) }
func (chainHost) Sleep(ctx context.Context, d time.Duration) { Clock{}.Sleep(ctx, d) }

// countedSub counts the deliveries taken and not yet settled.
type countedSub struct {
	strategies.Subscription
	n *atomic.Int64
}

func (s *countedSub) Next(ctx context.Context) (strategies.Delivery, error) {
	d, err := s.Subscription.Next(ctx)
	if err == nil {
		s.n.Add(1)
	}
	return d, err
}

func (s *countedSub) Ack(ctx context.Context, tag uint64) error {
	defer s.n.Add(-1)
	return s.Subscription.Ack(ctx, tag)
}

func (s *countedSub) Nack(ctx context.Context, tag uint64, requeue bool) error {
	defer s.n.Add(-1)
	return s.Subscription.Nack(ctx, tag, requeue)
}

// reapRunQueues is Clean's pg.QueueReaper on the broker at url: a dead run's queue and, for a
// chain run, its second queue; it returns the names of those it found, joined by ", ".
func reapRunQueues(url string) pg.QueueReaper {
	return func(ctx context.Context, runID string, dryRun bool) (string, error) {
		var names []string
		for _, id := range []string{runID, runID + ChainQueueSuffix} {
			q := amqp.QueueOf(url, id)
			exists, err := q.Exists(ctx)
			if err == nil && exists && !dryRun {
				err = q.Delete(ctx)
			}
			_ = q.Close()
			if err != nil {
				return strings.Join(names, ", "), err
			}
			if exists {
				names = append(names, q.Name)
			}
		}
		return strings.Join(names, ", "), nil
	}
}
