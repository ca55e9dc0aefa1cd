// Package strategytest holds strategies for tests: a team's consumer as teams write it, whose
// mistake the harness must find. Only tests import it.
package strategytest

import (
	"context"

	"github.com/deliveryharness/harness/strategies"
)

// MemoryDedup is a team's consumer that remembers the ids it applied in a map, in its process's
// memory: it applies, commits, passes consumer.after-effect and acks, and acks a copy it has
// seen without applying it. A copy redelivered after a crash finds the map of the new process
// empty and is applied again. Register it with a constructor that builds a fresh one, so that
// each process incarnation has its own map.
type MemoryDedup struct {
	name string
	seen map[string]bool
	// Handled counts the deliveries this instance handled (one process's: one goroutine).
	Handled int
}

// NewMemoryDedup returns a MemoryDedup named name, with an empty map.
func NewMemoryDedup(name string) *MemoryDedup {
	return &MemoryDedup{name: name, seen: map[string]bool{}}
}

// Name implements strategies.Consumer.
func (m *MemoryDedup) Name() string { return m.name }

// Doc implements strategies.Consumer.
func (*MemoryDedup) Doc() string { return "a team's consumer: applied ids remembered in memory" }

// Points implements strategies.Consumer.
func (*MemoryDedup) Points() []string { return []string{strategies.PointConsumerAfterEffect} }

// Handle implements strategies.Consumer.
func (m *MemoryDedup) Handle(ctx context.Context, env strategies.ConsumerEnv, d strategies.Delivery) error {
	m.Handled++
	if m.seen[d.Msg.ID] {
		return env.Sub.Ack(ctx, d.Tag)
	}
	tx, err := env.Store.Begin(ctx)
	if err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Apply(ctx, d.Msg); err != nil {
		_ = tx.Rollback(ctx)
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	if err := tx.Commit(ctx); err != nil {
		return env.Sub.Nack(ctx, d.Tag, true)
	}
	m.seen[d.Msg.ID] = true
	env.Faults.Point(ctx, strategies.PointConsumerAfterEffect)
	return env.Sub.Ack(ctx, d.Tag)
}
