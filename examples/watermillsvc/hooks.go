package watermillsvc

import (
	"time"

	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
)

// Hooks let an in-process benchmark time the service and set the two knobs a fair comparison
// needs. The zero Hooks is the service as registered; service mode never sets them.
type Hooks struct {
	// Committed, when set, is called after an order's transaction committed (Handle, Place),
	// with the command's id and the time its COMMIT returned.
	Committed func(id string, at time.Time)
	// Paid, when set, is called after a payment's transaction committed, with the message's
	// UUID (the command's id) and the time its COMMIT returned.
	Paid func(id string, at time.Time)
	// PollInterval, when not zero, replaces the SQL subscriber's pause when the outbox has
	// nothing new (pollInterval, Watermill's default of one second).
	PollInterval time.Duration
	// DedupKey, when set, replaces the Deduplicator's key (the default: Adler-32 of the
	// payload), for example middleware.NewMessageHasherSHA256.
	DedupKey middleware.MessageHasher
}

// WithHooks sets s's hooks and returns s. Call it before the service runs.
func (s *Service) WithHooks(h Hooks) *Service {
	s.hooks = h
	if h.DedupKey != nil {
		s.dedup.KeyFactory = h.DedupKey
	}
	return s
}

// poll is the SQL subscriber's pause when the outbox has nothing new.
func (s *Service) poll() time.Duration {
	if s.hooks.PollInterval > 0 {
		return s.hooks.PollInterval
	}
	return pollInterval
}

func (s *Service) committed(id string) {
	if s.hooks.Committed != nil {
		s.hooks.Committed(id, time.Now())
	}
}
