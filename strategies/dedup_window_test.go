package strategies_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/strategies"
)

// The fake store's dedup-window calls log their times as offsets from its clock (calls.Now).
func (c *calls) WindowForget(_ context.Context, consumer string, before time.Time) (int, error) {
	c.log = append(c.log, "forget("+consumer+", now"+before.Sub(c.Now()).String()+")")
	return 0, c.fail["forget"]
}

func (c *calls) WindowInsert(_ context.Context, consumer, msgID string, at time.Time) error {
	c.log = append(c.log, "window-insert("+consumer+", "+msgID+", now+"+at.Sub(c.Now()).String()+")")
	return c.fail["window-insert"]
}

// TestDedupWindowOrder: in one transaction the consumer forgets what it saw more than Window ago,
// records the message at the clock's time, applies, commits and acks; a duplicate on the key is
// rolled back and acknowledged, and any other failure handed back.
func TestDedupWindowOrder(t *testing.T) {
	if strategies.Window != 3*time.Second {
		t.Fatalf("Window is %s; the cases below are written for 3s", strategies.Window)
	}
	cases := []struct {
		name string
		fail map[string]error
		want string
	}{
		{"first copy", nil,
			"@consumer.after-receive begin forget(g, now-3s) window-insert(g, order-1, now+0s) apply @consumer.before-commit commit @consumer.after-effect ack"},
		{"copy inside the window", map[string]error{"window-insert": strategies.ErrDuplicateKey},
			"@consumer.after-receive begin forget(g, now-3s) window-insert(g, order-1, now+0s) rollback ack"},
		{"lock timeout on the key", map[string]error{"window-insert": strategies.ErrLockTimeout},
			"@consumer.after-receive begin forget(g, now-3s) window-insert(g, order-1, now+0s) rollback sleep 20ms nack(requeue=true)"},
		{"forget fails", map[string]error{"forget": strategies.ErrConnection},
			"@consumer.after-receive begin forget(g, now-3s) rollback sleep 20ms nack(requeue=true)"},
	}
	c, err := strategies.LookupConsumer("dedup-window")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &calls{fail: tc.fail}
			env := strategies.ConsumerEnv{Group: "g", Store: f, Sub: f, Faults: f, Clock: f}
			_ = c.Handle(context.Background(), env, strategies.Delivery{Msg: msg, Tag: 1})
			if got := strings.Join(f.log, " "); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
