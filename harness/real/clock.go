package real

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"time"
)

// Clock is the wall clock as a strategies.Clock: Now is time.Now, Sleep returns early when ctx
// ends.
type Clock struct{}

// Now implements strategies.Clock: the wall clock.
func (Clock) Now() time.Time { return time.Now() }

// Sleep implements strategies.Clock.
func (Clock) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// NewRunID returns a fresh run id, usable in schema and queue names: "p", the process id, "_"
// and 12 random lower-case hex digits. The process id says who made a schema or a queue, for a
// person reading the server's lists; whether that run is alive is its liveness lock's business
// (pg.HoldLiveness), never the id's.
func NewRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("p%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
}
