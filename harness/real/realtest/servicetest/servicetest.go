// Package servicetest is for tests that drive a team's service (package service) by hand: the
// Env a run would give it (Env), and its loops run until the test stops them (Start). It imports
// testing, so the harness's binaries must never import it.
//
// It is not part of package realtest because it makes the run's schema and queue with the real
// backend's pg and amqp, whose own tests import realtest: realtest importing them would be an
// import cycle. For the same reason the tests inside packages pg and amqp cannot use it; every
// other test can, package real's included (servicetest does not import real).
package servicetest

import (
	"context"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/real/amqp"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/service"
)

// Prefetch is the Env's Prefetch.
const Prefetch = 2

// cleanupWait bounds each step of the cleanup: the queue's deletion, then the schema's drop.
const cleanupWait = 15 * time.Second

// Env returns the Env of a run for a test that drives a service by hand, in one process, without
// worker processes or faults: a run schema and a run queue of the test's own, made as a run
// makes them (pg.CreateBareSchema, with the harness's marker and liveness lock, and
// amqp.DeclareQueue, so that `simulate clean` reaps them if the test is killed), removed when the
// test ends. The run id is realtest.RunID's. Postgres is inf's URL with the schema as search_path
// (pg.SearchPathURL), AMQP is inf's URL, QueueArgs are amqp.QueueArguments of the run, Proc is
// "harness" and Prefetch is Prefetch.
//
// A failure to make the schema or the queue fails the test at once; a failure to remove them
// fails it at its end. A queue that could not be deleted keeps its schema (closed, not dropped),
// so that `simulate clean` still finds it, as after a run.
func Env(t testing.TB, inf infra.Infra, workload string) service.Env {
	t.Helper()
	runID := realtest.RunID(t)
	ctx := realtest.Context(t)
	schema, err := pg.CreateBareSchema(ctx, inf.PostgresURL, runID)
	if err != nil {
		t.Fatalf("servicetest: %v", err)
	}
	queue, err := amqp.DeclareQueue(ctx, inf.AMQPURL, runID)
	if err != nil {
		dropSchema(t, schema)
		t.Fatalf("servicetest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), cleanupWait)
		defer cancel()
		deleted := true
		if err := queue.Delete(ctx); err != nil {
			deleted = false
			t.Errorf("servicetest: %v", err)
		}
		if err := queue.Close(); err != nil {
			t.Errorf("servicetest: %v", err)
		}
		if !deleted {
			schema.Close() // the schema stays as the queue's record, for `simulate clean`
			return
		}
		dropSchema(t, schema)
	})
	postgres, err := pg.SearchPathURL(inf.PostgresURL, schema.Name)
	if err != nil {
		t.Fatalf("servicetest: %v", err)
	}
	return service.Env{
		Proc:      "harness",
		Postgres:  postgres,
		AMQP:      inf.AMQPURL,
		Schema:    schema.Name,
		Queue:     queue.Name,
		QueueArgs: amqp.QueueArguments(runID),
		Workload:  workload,
		Prefetch:  Prefetch,
	}
}

// dropSchema drops schema within cleanupWait; a failure fails the test.
func dropSchema(t testing.TB, schema *pg.Schema) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cleanupWait)
	defer cancel()
	if err := schema.Drop(ctx); err != nil {
		t.Errorf("servicetest: %v", err)
	}
}
