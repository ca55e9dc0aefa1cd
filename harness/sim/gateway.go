package sim

import (
	"fmt"
	"slices"

	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// gateway is the stand-in mail gateway of the emails workload: a service outside the database
// that records every email it accepts. A request with an idempotency key it has seen is accepted
// and dropped, as payment and mail APIs that support keys do.
type gateway struct {
	sent []history.Effect
	keys map[string]bool
}

func newGateway() *gateway { return &gateway{keys: map[string]bool{}} }

func (g *gateway) effects() []history.Effect { return slices.Clone(g.sent) }

// send is p's call to the gateway: the gateway acts on the request as soon as it arrives; on a
// slow link the reply comes after the client's timeout, and the caller cannot tell whether the
// email went out.
func (w *world) send(p *proc, m history.Message, key string) error {
	if p.unwinding {
		return errUnwinding
	}
	p.step()
	w.atLink(p, fault.LinkGateway)
	slow := w.slow[link{p.name, fault.LinkGateway}]
	g := w.gw
	switch {
	case key != "" && g.keys[key]:
		w.noteEvent(history.Event{Proc: "gateway", Op: history.OpSend, Msg: m.ID, Key: m.Key, From: p.name, Guard: history.GuardKey,
			Detail: "repeat of idempotency key " + key + " dropped"})
	default:
		if key != "" {
			g.keys[key] = true
		}
		g.sent = append(g.sent, history.Effect{Msg: m.ID, Key: m.Key, Amount: m.Amount})
		d := "email to " + m.Key
		if key != "" {
			d += " (idempotency key " + key + ")"
		}
		w.noteEvent(history.Event{Proc: "gateway", Op: history.OpSend, Msg: m.ID, Key: m.Key, From: p.name, Detail: d})
	}
	if slow {
		p.sleep(w.cfg.GatewayTimeout)
		return fmt.Errorf("gateway: no reply within %dms: %w", w.cfg.GatewayTimeout, strategies.ErrUnknownOutcome)
	}
	return nil
}
