package component

import (
	"context"
	"errors"
	"time"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/record"
	"github.com/deliveryharness/harness/strategies"
)

// Group is the consumer group name every consumer process of a run shares.
const Group = "effects"

// Commands are the producer's client commands, with a cursor the backend keeps across the
// producer's incarnations.
type Commands interface {
	// Next takes the next command, or reports that none is left. A command is taken before it
	// runs: one in progress when the producer died is not run again by its next incarnation (its
	// client saw the connection reset).
	Next(ctx context.Context) (history.Message, bool)
	// Done tells the backend that every command has run. It may block until the run ends.
	Done(ctx context.Context)
}

// Host is what a backend gives the relay's and the consumers' loops: how they wait, and how the
// backend learns that a component has nothing to do.
type Host interface {
	// Idle says that the component found no work: a relay's pass found nothing, a consumer's
	// Next waited its idle time for nothing.
	Idle()
	// Poll waits d before the relay's next pass, after a pass that found nothing or failed. On
	// the simulator the process counts as idle while it waits.
	Poll(ctx context.Context, d time.Duration)
	// Sleep waits d, busy: a consumer waits before reconnecting.
	Sleep(ctx context.Context, d time.Duration)
}

// Producer runs the producer: the commands one after the other, each ending in a produce event
// of proc with the outcome the strategy returned. It returns when the commands are done (after
// Commands.Done) or ctx ends.
func Producer(ctx context.Context, proc string, p strategies.Producer, env strategies.ProducerEnv, cmds Commands, log record.Log) {
	for ctx.Err() == nil {
		m, ok := cmds.Next(ctx)
		if !ok {
			cmds.Done(ctx)
			return
		}
		err := p.Produce(ctx, env, m)
		out, detail := history.OK, ""
		if err != nil {
			out, detail = history.Fail, err.Error()
		}
		log.Add(history.Event{Time: log.Now(), Proc: proc, Op: history.OpProduce, Outcome: out, Msg: m.ID, Key: m.Key, Detail: detail})
	}
}

// Relay runs a relay's passes until ctx ends: after a pass that found nothing (the component is
// idle) or failed, it waits poll before the next.
func Relay(ctx context.Context, h Host, r strategies.Relay, env strategies.RelayEnv, poll time.Duration) {
	for ctx.Err() == nil {
		n, err := r.RelayPass(ctx, env)
		if err == nil && n > 0 {
			continue
		}
		if err == nil {
			h.Idle()
		}
		h.Poll(ctx, poll)
	}
}

// Consumer runs a consumer until ctx ends: each delivery Next returns is handled; when Next
// waited for nothing the component is idle; after any other failure of Next it waits reconnect.
// Handle's error is the strategy's business (the History has it).
func Consumer(ctx context.Context, h Host, c strategies.Consumer, env strategies.ConsumerEnv, reconnect time.Duration) {
	for ctx.Err() == nil {
		d, err := env.Sub.Next(ctx)
		if err != nil {
			if errors.Is(err, strategies.ErrIdle) {
				h.Idle()
			} else {
				h.Sleep(ctx, reconnect)
			}
			continue
		}
		_ = c.Handle(ctx, env, d)
	}
}
