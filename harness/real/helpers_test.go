package real

import (
	"context"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/real/realtest"
)

// The package's tests share realtest's helpers under short names.
var (
	testRunID = realtest.RunID
	testCtx   = realtest.Context
)

// pgTestSchema creates this test's schema and drops it afterwards.
func pgTestSchema(t *testing.T, inf Infra) *pg.Schema {
	t.Helper()
	s, err := pg.CreateSchema(testCtx(t), inf.PostgresURL, testRunID(t))
	if err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Drop(context.Background()); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return s
}

// logTestSlot creates a slot for schema s and drops it when the test ends (before the schema).
func logTestSlot(t *testing.T, inf Infra, s *pg.Schema) *pg.Slot {
	t.Helper()
	realtest.RequireLogicalWAL(t, inf)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	slot, err := pg.CreateSlot(ctx, inf.PostgresURL, s.Name)
	if err != nil {
		t.Fatalf("create slot: %v", err)
	}
	t.Cleanup(func() {
		if err := slot.Drop(context.Background()); err != nil {
			t.Errorf("drop slot: %v", err)
		}
	})
	return slot
}
