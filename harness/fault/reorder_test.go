package fault

import (
	"context"
	"fmt"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/strategies"
)

// queue is a fake subscription: deliveries in order, a requeued one goes to the back.
type queue struct {
	ready []strategies.Delivery
	log   []string
}

func (q *queue) Next(context.Context) (strategies.Delivery, error) {
	if len(q.ready) == 0 {
		return strategies.Delivery{}, strategies.ErrIdle
	}
	d := q.ready[0]
	q.ready = q.ready[1:]
	q.log = append(q.log, "next "+d.Msg.ID)
	return d, nil
}

func (q *queue) Ack(_ context.Context, tag uint64) error {
	q.log = append(q.log, fmt.Sprint("ack ", tag))
	return nil
}

func (q *queue) Nack(_ context.Context, tag uint64, requeue bool) error {
	q.log = append(q.log, fmt.Sprint("nack ", tag, " ", requeue))
	q.ready = append(q.ready, strategies.Delivery{Msg: history.Message{ID: fmt.Sprint("m", tag)}, Tag: tag + 10, Redelivered: true})
	return nil
}

func TestReordering(t *testing.T) {
	d := func(i uint64) strategies.Delivery {
		return strategies.Delivery{Msg: history.Message{ID: fmt.Sprint("m", i)}, Tag: i}
	}
	cases := []struct {
		name  string
		ready []strategies.Delivery
		fire  string // message the fault fires on
		want  []string
	}{
		{"the next overtakes", []strategies.Delivery{d(1), d(2)}, "m1", []string{"m2", "m1"}},
		{"nothing to overtake", []strategies.Delivery{d(1)}, "m1", []string{"m1"}},
		{"no fault, no change", []strategies.Delivery{d(1), d(2)}, "", []string{"m1", "m2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q := &queue{ready: tc.ready}
			fired := false
			sub := Reordering(q, func(_ context.Context, d strategies.Delivery) bool {
				if !fired && d.Msg.ID == tc.fire {
					fired = true
					return true
				}
				return false
			})
			var got []string
			var redelivered bool
			for {
				d, err := sub.Next(context.Background())
				if err != nil {
					break
				}
				got = append(got, d.Msg.ID)
				redelivered = redelivered || d.Redelivered
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("handled %v, want %v (calls %v)", got, tc.want, q.log)
			}
			if tc.name == "the next overtakes" && !redelivered {
				t.Error("the handed-back delivery did not come back flagged redelivered")
			}
		})
	}
}
