package real

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"
)

// Clock is the wall clock as a strategies.Clock: Sleep returns early when ctx ends.
type Clock struct{}

// Sleep implements strategies.Clock.
func (Clock) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// NewRunID returns a fresh run id: 12 lower-case hex digits, usable in schema and queue names.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
