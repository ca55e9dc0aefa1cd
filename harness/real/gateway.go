package real

// The mail gateway of the emails workload: a small HTTP service outside the database that the
// parent runs for an emails run, and the client the consumer workers reach it with, each
// through its own Toxiproxy proxy, so that a latency fault can slow one consumer's link.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/pg"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// IdempotencyKeyHeader carries a send's idempotency key: the gateway accepts a repeat of a key it
// has seen and drops it, as payment and mail APIs that support keys do.
const IdempotencyKeyHeader = "Idempotency-Key"

// gatewayPath is where the gateway takes emails: POST, a JSON history.Message as the body.
const gatewayPath = "/emails"

// Gateway is the stand-in mail gateway on real servers, the counterpart of the simulator's: it
// records every email it accepts, in order of acceptance, and notes each request in the run's
// history as proc "gateway" (OpSend). It acts on a request as soon as it has read it; a slow
// link delays only the reply.
type Gateway struct {
	URL string // http://127.0.0.1:<port>

	srv *http.Server
	log record.Log

	mu   sync.Mutex
	sent []history.Effect
	keys map[string]bool
}

// StartGateway starts a gateway on 127.0.0.1 at a free port. log receives its OpSend events;
// nil means none.
func StartGateway(log record.Log) (*Gateway, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("gateway: listen: %w", err)
	}
	g := &Gateway{URL: "http://" + ln.Addr().String(), log: log, keys: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc(gatewayPath, g.serve)
	g.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = g.srv.Serve(ln) }()
	return g, nil
}

// Close stops the gateway and closes its connections. What it recorded stays readable.
func (g *Gateway) Close() error { return g.srv.Close() }

// Effects returns the emails accepted so far, in order of acceptance.
func (g *Gateway) Effects() []history.Effect {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sent)
}

// gatewayReply is the body of the gateway's answer.
type gatewayReply struct {
	Status string `json:"status"` // sent, or duplicate (a repeat of an idempotency key, dropped)
}

func (g *Gateway) serve(rw http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	var m history.Message
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&m); err != nil || m.ID == "" {
		http.Error(rw, "want a JSON message with an id", http.StatusBadRequest)
		return
	}
	key := req.Header.Get(IdempotencyKeyHeader)
	status := g.accept(m, key)
	rw.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(rw).Encode(gatewayReply{Status: status})
}

// accept records m (unless its key was seen) and notes the request, as the simulator's gateway does.
func (g *Gateway) accept(m history.Message, key string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	status, detail, guard := "sent", "email to "+m.Key, history.Guard("")
	if key != "" && g.keys[key] {
		status, detail, guard = "duplicate", "repeat of idempotency key "+key+" dropped", history.GuardKey
	} else {
		if key != "" {
			g.keys[key] = true
			detail += " (idempotency key " + key + ")"
		}
		g.sent = append(g.sent, history.Effect{Msg: m.ID, Key: m.Key, Amount: m.Amount})
	}
	if g.log != nil {
		// Under g.mu, so that the history's order of sends is the order of acceptance.
		g.log.Add(history.Event{Time: g.log.Now(), Proc: "gateway", Op: history.OpSend, Msg: m.ID, Key: m.Key, Guard: guard, Detail: detail})
	}
	return status
}

// GatewayClient is a consumer's Mailer: one HTTP POST per email, with a deadline.
type GatewayClient struct {
	url     string
	timeout time.Duration
	http    *http.Client
}

var _ pg.Mailer = (*GatewayClient)(nil)

// NewGatewayClient returns a client of the gateway at url (its own proxy's address, for a worker)
// that waits at most timeout for each reply.
func NewGatewayClient(url string, timeout time.Duration) *GatewayClient {
	return &GatewayClient{url: url + gatewayPath, timeout: timeout, http: &http.Client{Timeout: timeout}}
}

// Send implements Mailer. A request that could not be sent (no connection) gives ErrConnection:
// nothing went out. A reply that does not come within the timeout, or a connection lost after the
// request went out, gives ErrUnknownOutcome: the gateway may have sent the email.
func (c *GatewayClient) Send(ctx context.Context, m history.Message, key string) error {
	body, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("gateway: send %s: encode: %w", m.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("gateway: send %s: %w", m.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set(IdempotencyKeyHeader, key)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return fmt.Errorf("gateway: send %s: %w: %v", m.ID, strategies.ErrConnection, opErr.Err)
		}
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return fmt.Errorf("gateway: send %s: no reply within %v: %w", m.ID, c.timeout, strategies.ErrUnknownOutcome)
		}
		return fmt.Errorf("gateway: send %s: %w: %v", m.ID, strategies.ErrUnknownOutcome, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("gateway: send %s: refused: %s", m.ID, resp.Status)
	}
	return nil
}

// runLog is a run's history as a record.Log, for what the parent itself runs (the gateway).
type runLog struct{ r *run }

func (l runLog) Now() int64 { return l.r.now() }

func (l runLog) Add(e history.Event) {
	l.r.mu.Lock()
	defer l.r.mu.Unlock()
	l.r.events = append(l.r.events, e)
}
