package nats

// A run's stream: created with the harness's mark and the duplicate window, with the durable
// pull consumer of the run's consumer group; deleted afterwards.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/deliveryharness/harness/strategies"
)

// StreamPrefix starts the name of every stream the harness creates: StreamPrefix + run id. Its
// subject is SubjectPrefix + run id + SubjectSuffix, and its description MarkerPrefix + run id.
const (
	StreamPrefix  = "HARNESS_"
	SubjectPrefix = "harness."
	SubjectSuffix = ".events"
	MarkerPrefix  = "harness run "
)

// AckWait is how long the server waits for a consumer's ack before it redelivers: the contract's
// 500 ms, the simulator's AckWait.
const AckWait = 500 * time.Millisecond

// streamMaxAge bounds how long the messages of a stream nobody deleted stay on the server; the
// stream itself goes with the next run's Clean.
const streamMaxAge = 10 * time.Minute

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,200}$`)

var groupPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,100}$`)

// StreamName is the name of run runID's stream.
func StreamName(runID string) string { return StreamPrefix + runID }

// Subject is the subject run runID's stream takes.
func Subject(runID string) string { return SubjectPrefix + runID + SubjectSuffix }

// Durable is the name of the durable pull consumer that consumer group group shares.
func Durable(group string) string { return "harness-" + group }

// Marker is the description that marks run runID's stream as the harness's.
func Marker(runID string) string { return MarkerPrefix + runID }

// Stream is one run's stream, named with the harness prefix and the run id, with the durable
// consumer of its group; deleted afterwards. Build it with CreateStream: Delete refuses a Stream
// it cannot tie to a run id.
type Stream struct {
	Name    string // StreamPrefix + runID
	Subject string // SubjectPrefix + runID + SubjectSuffix
	Durable string // the group's durable consumer, when CreateStream made one

	url   string
	runID string

	mu      sync.Mutex
	nc      *natsgo.Conn
	deleted bool
}

// CreateStream creates run runID's stream (file storage, duplicate window strategies.Window,
// messages kept streamMaxAge at most) and the durable pull consumer of group (explicit acks, ack
// wait AckWait, no limit on deliveries). It refuses a stream of that name that already exists:
// it is not this run's.
func CreateStream(ctx context.Context, url, runID, group string) (*Stream, error) {
	if err := checkURL(url); err != nil {
		return nil, err
	}
	if !runIDPattern.MatchString(runID) {
		return nil, fmt.Errorf("nats: create stream: run id %q: want 1-200 letters, digits, '-' or '_'", runID)
	}
	if !groupPattern.MatchString(group) {
		return nil, fmt.Errorf("nats: create stream: consumer group %q: want 1-100 letters, digits, '-' or '_'", group)
	}
	s := &Stream{Name: StreamName(runID), Subject: Subject(runID), url: url, runID: runID}
	err := s.with(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		if _, err := js.Stream(ctx, s.Name); err == nil {
			return fmt.Errorf("nats: create stream %s: it already exists; refusing to use a stream this run did not create", s.Name)
		} else if !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("nats: look for stream %s: %w: %w", s.Name, strategies.ErrChannelClosed, err)
		}
		st, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        s.Name,
			Description: Marker(runID),
			Subjects:    []string{s.Subject},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  strategies.Window,
			MaxAge:      streamMaxAge,
			Replicas:    1,
		})
		if err != nil {
			return fmt.Errorf("nats: create stream %s: %w: %w", s.Name, strategies.ErrChannelClosed, err)
		}
		if _, err := st.CreateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       Durable(group),
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       AckWait,
			MaxDeliver:    -1,
			DeliverPolicy: jetstream.DeliverAllPolicy,
		}); err != nil {
			return fmt.Errorf("nats: create consumer %s on %s: %w: %w", Durable(group), s.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if err != nil {
		if !strings.Contains(err.Error(), "already exists") {
			_ = s.Delete(context.Background())
		}
		_ = s.Close()
		return nil, err
	}
	s.Durable = Durable(group)
	return s, nil
}

// StreamOf is the handle of run runID's stream, created or not, for what looks after a run that
// is gone (Clean): Exists looks for it and Delete removes it, when it carries the run's marker.
func StreamOf(url, runID string) *Stream {
	return &Stream{Name: StreamName(runID), Subject: Subject(runID), url: url, runID: runID}
}

// with runs fn with a JetStream context on the stream's connection (dialed when missing or
// closed), bounded by opTimeout.
func (s *Stream) with(ctx context.Context, fn func(ctx context.Context, js jetstream.JetStream) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc == nil || s.nc.IsClosed() {
		nc, err := dial(ctx, s.url, "admin "+s.Name)
		if err != nil {
			return err
		}
		s.nc = nc
	}
	js, err := jetstream.New(s.nc)
	if err != nil {
		return fmt.Errorf("nats: jetstream: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	return fn(ctx, js)
}

// Depth returns what the group's consumer still has to do: the messages not yet delivered
// (pending) and those delivered and not acknowledged (ackPending), which the server redelivers
// after the ack wait.
func (s *Stream) Depth(ctx context.Context) (pending, ackPending int, err error) {
	if s.Durable == "" {
		return 0, 0, fmt.Errorf("nats: depth of %s: no consumer", s.Name)
	}
	err = s.with(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		c, err := js.Consumer(ctx, s.Name, s.Durable)
		if err != nil {
			return fmt.Errorf("nats: consumer %s on %s: %w: %w", s.Durable, s.Name, strategies.ErrChannelClosed, err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return fmt.Errorf("nats: consumer %s on %s: %w: %w", s.Durable, s.Name, strategies.ErrChannelClosed, err)
		}
		pending, ackPending = int(info.NumPending), info.NumAckPending
		return nil
	})
	return pending, ackPending, err
}

// Stored returns how many messages the stream holds (every copy it stored: a repeat within the
// duplicate window is not one).
func (s *Stream) Stored(ctx context.Context) (int, error) {
	var n int
	err := s.with(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		st, err := js.Stream(ctx, s.Name)
		if err != nil {
			return fmt.Errorf("nats: stream %s: %w: %w", s.Name, strategies.ErrChannelClosed, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return fmt.Errorf("nats: stream %s: %w: %w", s.Name, strategies.ErrChannelClosed, err)
		}
		n = int(info.State.Msgs)
		return nil
	})
	return n, err
}

// Exists reports whether the stream is there and carries its run's marker.
func (s *Stream) Exists(ctx context.Context) (bool, error) {
	var ok bool
	err := s.with(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		st, err := js.Stream(ctx, s.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("nats: look for %s: %w: %w", s.Name, strategies.ErrChannelClosed, err)
		}
		ok = st.CachedInfo().Config.Description == Marker(s.runID)
		return nil
	})
	return ok, err
}

// Delete deletes the stream and its consumers. It refuses a stream whose name is not the harness
// prefix with this Stream's run id, or whose description is not the run's marker: only what
// CreateStream made can be deleted. Deleting a stream that is already gone is not an error.
func (s *Stream) Delete(ctx context.Context) error {
	if !runIDPattern.MatchString(s.runID) || s.Name != StreamName(s.runID) {
		return fmt.Errorf("nats: refusing to delete stream %q: not a harness stream of this run (want %s<run id>)", s.Name, StreamPrefix)
	}
	err := s.with(ctx, func(ctx context.Context, js jetstream.JetStream) error {
		st, err := js.Stream(ctx, s.Name)
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("nats: look for %s: %w: %w", s.Name, strategies.ErrChannelClosed, err)
		}
		if d := st.CachedInfo().Config.Description; d != Marker(s.runID) {
			return fmt.Errorf("nats: refusing to delete stream %s: its description %q is not the harness's marker of run %s", s.Name, d, s.runID)
		}
		if err := js.DeleteStream(ctx, s.Name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("nats: delete %s: %w: %w", s.Name, strategies.ErrChannelClosed, err)
		}
		return nil
	})
	if err == nil {
		s.mu.Lock()
		s.deleted = true
		s.mu.Unlock()
	}
	return err
}

// Deleted reports whether Delete removed the stream (or found it gone).
func (s *Stream) Deleted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.deleted
}

// Close closes the stream's own connection; the stream stays until Delete.
func (s *Stream) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nc != nil {
		s.nc.Close()
		s.nc = nil
	}
	return nil
}
