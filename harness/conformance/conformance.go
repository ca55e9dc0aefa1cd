// Package conformance is the suite of port semantics that every backend runs: the simulator now,
// PostgreSQL and RabbitMQ later. The strategies are written against the ports in package
// strategies; a verdict on the simulator is only worth something if the real servers behave the
// same way, so both must pass the same checks (Watermill's pubsub/tests is the model): READ
// COMMITTED visibility, rollback, unique keys and the wait of a concurrent inserter, effects,
// FOR UPDATE SKIP LOCKED claims of the outbox, reads of the outbox after an id and the durable
// relay cursor of offset relays (a second writer of a cursor waits for the first), the clock's Now, publisher confirms, nack and requeue with the
// redelivered flag, requeue when a consumer's channel dies, prefetch and the idle wait, and where
// the brokers differ (Features): redelivery after an ack wait, and a duplicate window on message ids.
//
// A backend implements Backend and calls Test from its own test with the Features it has:
//
//	func TestConformance(t *testing.T) {
//		conformance.Test(t, myBackend{}, conformance.Features{RequeueKeepsPosition: true})
//	}
//
// A check is a few straight-line bodies, each run as its own process; they coordinate only
// through the ports (they poll shared flags between Clock.Sleep calls), so the same check runs on
// the simulator's coroutines and on real concurrent processes.
//
// The package imports the ports, the history vocabulary and the workloads, and nothing of any
// backend.
package conformance

import (
	"context"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
	"github.com/deliveryharness/harness/strategies"
)

// Setup is the infrastructure one check asks for.
type Setup struct {
	// Workload names the workload whose effect kind gives Tx.Apply and Tx.ApplyIdempotent their
	// semantics: orders (append: a payment row per effect), credits (add: balance += amount),
	// prices (set: price := amount) or emails (external: a call to the mail gateway, outside the
	// database; Final.Effects are what the gateway sent).
	Workload string
	// Prefetch is every subscription's limit of unacknowledged deliveries (1 or more).
	Prefetch int
}

// Env is what one body gets: the ports of its own process, with its own database connection and
// its own broker connection.
type Env struct {
	// Name names the process in failure messages.
	Name      string
	Store     strategies.Store
	Publisher strategies.Publisher
	// Sub starts consuming from the run's queue at its first Next: a body that never calls Next
	// never holds a delivery.
	Sub   strategies.Subscription
	Clock strategies.Clock
}

// Body is one process's straight-line code. Its return is the process's exit: the backend rolls
// back its open transactions and closes its broker channels, so the broker requeues its
// unacknowledged deliveries, flagged redelivered. A body reports failures with t.Errorf (never
// t.Fatal: it may not run on the test's goroutine) and waits only through the ports.
type Body func(ctx context.Context, env Env)

// Backend gives the suite fresh infrastructure for one check and runs processes against it.
type Backend interface {
	// Run runs each body as a separate process against one fresh database (empty tables) and one
	// fresh, empty queue, and returns when every body has returned, with the final reads:
	// Committed, Effects, Values and Outbox from the database, Ready and Unacked from the broker.
	// When the backend itself fails (no server, a body that never returns) Run stops the test
	// with t.Fatal. Run is called on the test's goroutine.
	//
	// Timing the suite relies on: a lock wait lasts longer than 20ms (a body holds a key that
	// long while another waits for it), and Next's idle wait is short (a body expecting a
	// delivery rides out 20 of them, and some checks wait one out on purpose).
	Run(t testing.TB, s Setup, bodies ...Body) history.Final
}

// Features are where a backend legitimately differs from another. The zero value asks for the
// least: every check still runs, and a flag only adds assertions.
type Features struct {
	// RequeueKeepsPosition: a nacked or orphaned delivery goes back to its original place in the
	// queue, ahead of the messages published after it, as RabbitMQ's classic queues do (and the
	// simulator). Without it the suite only requires that the message comes back, flagged
	// redelivered, before the queue is empty.
	RequeueKeepsPosition bool
	// AckWait: the broker redelivers a delivery nobody acknowledged after this long, whether its
	// consumer is still connected or not, and a consumer that exits returns nothing at once (NATS
	// JetStream's ack wait). Zero: a delivery stays with a live consumer until it settles, and
	// comes back when its consumer's channel closes (RabbitMQ, and the simulator's RabbitMQ).
	AckWait time.Duration
	// DedupWindow: the broker drops a publish whose message id it stored less than this long ago,
	// and confirms it (NATS JetStream's duplicate window, the Nats-Msg-Id header). Zero: every
	// confirmed publish is queued, a repeat as a second copy.
	DedupWindow time.Duration
}

// Test runs every check as a subtest of t, each on fresh infrastructure from b.
func Test(t *testing.T, b Backend, f Features) {
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) { c.run(t, b, f) })
	}
}

// check is one named subtest of the suite.
type check struct {
	name string
	run  func(t *testing.T, b Backend, f Features)
}

// checks is the suite in the order it runs: database, effects, outbox, broker.
var checks = []check{
	{"tx-read-committed", checkReadCommitted},
	{"tx-rollback-leaves-nothing", checkRollback},
	{"tx-duplicate-inbox-key", checkDuplicateKey},
	{"tx-concurrent-inbox-insert-first-commits", func(t *testing.T, b Backend, _ Features) { checkConcurrentInsert(t, b, true) }},
	{"tx-concurrent-inbox-insert-first-rolls-back", func(t *testing.T, b Backend, _ Features) { checkConcurrentInsert(t, b, false) }},
	{"effect-apply-idempotent-twice-orders", func(t *testing.T, b Backend, _ Features) { checkApplyIdempotent(t, b, workload.Orders) }},
	{"effect-apply-idempotent-twice-credits", func(t *testing.T, b Backend, _ Features) { checkApplyIdempotent(t, b, workload.Credits) }},
	{"effect-apply-twice-orders", checkApplyTwiceOrders},
	{"effect-apply-credits-sums", checkApplyCredits},
	{"effect-concurrent-credits-sum", checkConcurrentCredits},
	{"effect-apply-prices-last-wins", checkApplyPrices},
	{"effect-versioned-newer-only", checkVersioned},
	{"effect-emails-outside-the-transaction", checkEmails},
	{"outbox-skip-locked", checkSkipLocked},
	{"outbox-uncommitted-not-claimable", checkUncommittedOutbox},
	{"outbox-mark-published", checkMarkPublished},
	{"outbox-read-after-id", checkReadAfter},
	{"outbox-relay-cursor", checkRelayCursor},
	{"outbox-relay-cursor-writer-waits", checkRelayCursorWriterWaits},
	{"outbox-fenced-read", checkFencedRead},
	{"clock-now-advances", checkClockNow},
	{"broker-confirmed-message-is-queued", checkConfirmedQueued},
	{"broker-publish-confirm-consume", checkPublishConsume},
	{"broker-nack-requeue-redelivered", checkNackRequeue},
	{"broker-nack-discard", checkNackDiscard},
	{"broker-exit-requeues-unacked", checkExitRequeues},
	{"broker-prefetch-per-consumer", checkPrefetch},
	{"broker-next-idle", checkIdle},
}
