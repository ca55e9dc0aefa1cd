package real_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/strategies"
)

// memLog is a record.Log in memory.
type memLog struct {
	mu     sync.Mutex
	events []history.Event
}

func (l *memLog) Now() int64 { return 0 }

func (l *memLog) Add(e history.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func startGateway(t *testing.T, log *memLog) *real.Gateway {
	t.Helper()
	g, err := real.StartGateway(log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// gatewayCtx bounds a test's calls to the gateway.
func gatewayCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func welcome(id, user string) history.Message {
	return history.Message{ID: id, Key: user, Amount: 1, Seq: 1, Kind: "UserRegistered"}
}

// TestGatewayKeepsIdempotencyKeys: a repeat of a key is accepted and dropped; sends without a key
// are all recorded; every request is noted as a send by proc "gateway".
func TestGatewayKeepsIdempotencyKeys(t *testing.T) {
	log := &memLog{}
	g := startGateway(t, log)
	c := real.NewGatewayClient(g.URL, time.Second)
	ctx := gatewayCtx(t)
	for _, s := range []struct {
		msg history.Message
		key string
	}{
		{welcome("signup-1", "user-1"), "signup-1"},
		{welcome("signup-1", "user-1"), "signup-1"}, // dropped
		{welcome("signup-2", "user-2"), ""},
		{welcome("signup-2", "user-2"), ""}, // no key: a second email
	} {
		if err := c.Send(ctx, s.msg, s.key); err != nil {
			t.Fatalf("send %s (key %q): %v", s.msg.ID, s.key, err)
		}
	}
	want := []history.Effect{{Msg: "signup-1", Key: "user-1", Amount: 1}, {Msg: "signup-2", Key: "user-2", Amount: 1}, {Msg: "signup-2", Key: "user-2", Amount: 1}}
	if got := g.Effects(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("effects: got %v, want %v", got, want)
	}
	wantNotes := []string{"email to user-1 (idempotency key signup-1)", "repeat of idempotency key signup-1 dropped", "email to user-2", "email to user-2"}
	if len(log.events) != len(wantNotes) {
		t.Fatalf("events: got %d, want %d: %v", len(log.events), len(wantNotes), log.events)
	}
	for i, e := range log.events {
		if e.Proc != "gateway" || e.Op != history.OpSend || e.Detail != wantNotes[i] {
			t.Errorf("event %d: got %s %s %q, want gateway send %q", i, e.Proc, e.Op, e.Detail, wantNotes[i])
		}
	}
}

// TestGatewayConcurrentSends: concurrent sends of one key record one email; concurrent sends
// without a key record every one.
func TestGatewayConcurrentSends(t *testing.T) {
	g := startGateway(t, &memLog{})
	c := real.NewGatewayClient(g.URL, 5*time.Second)
	ctx := gatewayCtx(t)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			errs <- c.Send(ctx, welcome("signup-keyed", "user-1"), "signup-keyed")
		}()
		go func() {
			defer wg.Done()
			errs <- c.Send(ctx, welcome(fmt.Sprintf("signup-%d", i), "user-2"), "")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	keyed, plain := 0, 0
	for _, e := range g.Effects() {
		if e.Msg == "signup-keyed" {
			keyed++
		} else {
			plain++
		}
	}
	if keyed != 1 || plain != n {
		t.Errorf("got %d emails for the keyed message and %d without a key, want 1 and %d", keyed, plain, n)
	}
}

// TestGatewayClientErrors: no connection is ErrConnection (nothing sent); no reply within the
// timeout is ErrUnknownOutcome.
func TestGatewayClientErrors(t *testing.T) {
	ctx := gatewayCtx(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	err = real.NewGatewayClient("http://"+addr, time.Second).Send(ctx, welcome("signup-1", "user-1"), "")
	if !errors.Is(err, strategies.ErrConnection) {
		t.Errorf("closed port: got %v, want ErrConnection", err)
	}

	// A server that reads the request and never answers.
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				buf := make([]byte, 4096)
				for {
					if _, err := conn.Read(buf); err != nil {
						_ = conn.Close()
						return
					}
				}
			}()
		}
	}()
	start := time.Now()
	err = real.NewGatewayClient("http://"+ln.Addr().String(), 200*time.Millisecond).Send(context.Background(), welcome("signup-1", "user-1"), "")
	if !errors.Is(err, strategies.ErrUnknownOutcome) {
		t.Errorf("silent server: got %v, want ErrUnknownOutcome", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("silent server: the send took %v, want about the 200ms timeout", d)
	}
}
