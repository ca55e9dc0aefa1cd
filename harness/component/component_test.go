package component_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// script is a fake backend: it records what the loops ask of it, and ends the loop (cancels
// ctx) after a number of waits.
type script struct {
	log    []string
	cancel context.CancelFunc
	waits  int
}

func (s *script) wait(what string) {
	s.log = append(s.log, what)
	if s.waits--; s.waits <= 0 {
		s.cancel()
	}
}

func (s *script) Idle()                                    { s.log = append(s.log, "idle") }
func (s *script) Poll(_ context.Context, d time.Duration)  { s.wait(fmt.Sprintf("poll %v", d)) }
func (s *script) Sleep(_ context.Context, d time.Duration) { s.wait(fmt.Sprintf("sleep %v", d)) }
func (s *script) Now() int64                               { return int64(len(s.log)) }
func (s *script) Add(e history.Event) {
	s.log = append(s.log, fmt.Sprintf("%s %s %s %s", e.Proc, e.Op, e.Msg, e.Outcome))
}

type cmds struct {
	s    *script
	list []history.Message
}

func (c *cmds) Next(context.Context) (history.Message, bool) {
	if len(c.list) == 0 {
		return history.Message{}, false
	}
	m := c.list[0]
	c.list = c.list[1:]
	c.s.log = append(c.s.log, "take "+m.ID)
	return m, true
}

func (c *cmds) Done(context.Context) { c.s.log = append(c.s.log, "done") }

type fakeProducer struct{ fail string }

func (fakeProducer) Name() string     { return "fake" }
func (fakeProducer) Doc() string      { return "" }
func (fakeProducer) Points() []string { return nil }
func (p fakeProducer) Produce(_ context.Context, _ strategies.ProducerEnv, m strategies.Message) error {
	if m.ID == p.fail {
		return errors.New("boom")
	}
	return nil
}

// passes returns its results in turn.
type passes struct {
	n   []int
	err []error
}

func (passes) RelayPoints() []string { return nil }
func (p *passes) RelayPass(context.Context, strategies.RelayEnv) (int, error) {
	n, err := p.n[0], p.err[0]
	p.n, p.err = p.n[1:], p.err[1:]
	return n, err
}

type sub struct{ errs []error }

func (s *sub) Next(context.Context) (strategies.Delivery, error) {
	err := s.errs[0]
	s.errs = s.errs[1:]
	if err != nil {
		return strategies.Delivery{}, err
	}
	return strategies.Delivery{Msg: history.Message{ID: "m"}}, nil
}
func (s *sub) Ack(context.Context, uint64) error        { return nil }
func (s *sub) Nack(context.Context, uint64, bool) error { return nil }

type fakeConsumer struct{ s *script }

func (fakeConsumer) Name() string     { return "fake" }
func (fakeConsumer) Doc() string      { return "" }
func (fakeConsumer) Points() []string { return nil }
func (c fakeConsumer) Handle(_ context.Context, _ strategies.ConsumerEnv, d strategies.Delivery) error {
	c.s.log = append(c.s.log, "handle "+d.Msg.ID)
	return nil
}

func TestProducer(t *testing.T) {
	s := &script{}
	c := &cmds{s: s, list: []history.Message{{ID: "a"}, {ID: "b"}}}
	component.Producer(context.Background(), "producer", fakeProducer{fail: "b"}, strategies.ProducerEnv{}, c, s)
	want := []string{"take a", "producer produce a ok", "take b", "producer produce b fail", "done"}
	if !slices.Equal(s.log, want) {
		t.Errorf("got %q, want %q", s.log, want)
	}
}

func TestRelay(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &script{cancel: cancel, waits: 2}
	p := &passes{n: []int{2, 0, 1}, err: []error{nil, nil, errors.New("broker down")}}
	component.Relay(ctx, s, p, strategies.RelayEnv{}, 10*time.Millisecond)
	// A pass that published goes on at once; one that found nothing is idle, then polls; one
	// that failed polls without saying it is idle.
	want := []string{"idle", "poll 10ms", "poll 10ms"}
	if !slices.Equal(s.log, want) {
		t.Errorf("got %q, want %q", s.log, want)
	}
}

func TestConsumer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	s := &script{cancel: cancel, waits: 1}
	sb := &sub{errs: []error{nil, strategies.ErrIdle, strategies.ErrChannelClosed}}
	component.Consumer(ctx, s, fakeConsumer{s}, strategies.ConsumerEnv{Sub: sb}, 50*time.Millisecond)
	want := []string{"handle m", "idle", "sleep 50ms"}
	if !slices.Equal(s.log, want) {
		t.Errorf("got %q, want %q", s.log, want)
	}
}
