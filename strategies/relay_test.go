package strategies_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/strategies"
)

// claims is the fake ports of calls with an outbox that hands out a batch per claim, in turn,
// and marks that name their rows.
type claims struct {
	*calls
	batches [][]strategies.OutboxRow
}

func (c *claims) Begin(context.Context) (strategies.Tx, error) { return c, c.do("begin") }

func (c *claims) ClaimOutbox(context.Context, int) ([]strategies.OutboxRow, error) {
	var b []strategies.OutboxRow
	if len(c.batches) > 0 {
		b, c.batches = c.batches[0], c.batches[1:]
	}
	ids := make([]string, len(b))
	for i, r := range b {
		ids[i] = fmt.Sprint(r.ID)
	}
	return b, c.do("claim[" + strings.Join(ids, ",") + "]")
}

func (c *claims) MarkPublished(_ context.Context, ids []int64) error {
	return c.do(fmt.Sprintf("mark%v", ids))
}

func rowsOf(ids ...int64) []strategies.OutboxRow {
	out := make([]strategies.OutboxRow, len(ids))
	for i, id := range ids {
		out[i] = strategies.OutboxRow{ID: id, Msg: strategies.Message{ID: fmt.Sprintf("order-%d", id)}}
	}
	return out
}

// TestRelayPipeline pins the outbox relay's overlap: after a full claim it claims and publishes
// the next batch before it waits for the first one's confirms, marks each batch only after its
// own confirms, and never marks a batch behind one that failed before its COMMIT.
func TestRelayPipeline(t *testing.T) {
	const (
		claim1 = "begin claim[1,2] @relay.after-claim publish publish "
		claim2 = "begin claim[3,4] @relay.after-claim publish publish "
		done1  = "confirm confirm @relay.after-publish mark[1 2] commit @relay.after-commit "
		done2  = "confirm confirm @relay.after-publish mark[3 4] commit @relay.after-commit "
	)
	cases := []struct {
		name     string
		batches  [][]strategies.OutboxRow
		confirms []error
		fail     map[string]error
		want     string
		n        int
		err      bool
	}{
		{
			name:    "a short claim ends the pass",
			batches: [][]strategies.OutboxRow{rowsOf(1)},
			want:    "begin claim[1] @relay.after-claim publish confirm @relay.after-publish mark[1] commit @relay.after-commit",
			n:       1,
		},
		{
			name:    "the next claim overlaps the confirm wait",
			batches: [][]strategies.OutboxRow{rowsOf(1, 2), rowsOf(3, 4), rowsOf(5)},
			want: claim1 + claim2 + done1 + "begin claim[5] @relay.after-claim publish " + done2 +
				"confirm @relay.after-publish mark[5] commit @relay.after-commit",
			n: 5,
		},
		{
			name:    "an empty claim after a full one",
			batches: [][]strategies.OutboxRow{rowsOf(1, 2), nil},
			want:    claim1 + "begin claim[] rollback " + strings.TrimSpace(done1),
			n:       2,
		},
		{
			name:     "a missing confirm rolls back the batch behind it",
			batches:  [][]strategies.OutboxRow{rowsOf(1, 2), rowsOf(3, 4)},
			confirms: []error{nil, strategies.ErrNoConfirm},
			want:     claim1 + claim2 + "confirm confirm rollback rollback",
			err:      true,
		},
		{
			name:    "a failed mark rolls back the batch behind it",
			batches: [][]strategies.OutboxRow{rowsOf(1, 2), rowsOf(3, 4)},
			fail:    map[string]error{"mark[1 2]": strategies.ErrConnection},
			want:    claim1 + claim2 + "confirm confirm @relay.after-publish mark[1 2] rollback rollback",
			err:     true,
		},
		{
			name:    "an unanswered commit leaves the batch behind it to its own confirms",
			batches: [][]strategies.OutboxRow{rowsOf(1, 2), rowsOf(3, 4), rowsOf(5, 6)},
			fail:    map[string]error{"commit": strategies.ErrUnknownOutcome},
			want: claim1 + claim2 + "confirm confirm @relay.after-publish mark[1 2] commit " +
				"confirm confirm @relay.after-publish mark[3 4] commit",
			err: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &claims{calls: &calls{confirms: tc.confirms, fail: tc.fail}, batches: tc.batches}
			n, err := strategies.Outbox{}.RelayPass(context.Background(),
				strategies.RelayEnv{Store: f, Publisher: f, Faults: f, Clock: f, Batch: 2})
			if got := strings.Join(f.log, " "); got != strings.TrimSpace(tc.want) || n != tc.n || (err != nil) != tc.err {
				t.Errorf("got %d, %v:\n%s\nwant %d, error %v:\n%s", n, err, got, tc.n, tc.err, strings.TrimSpace(tc.want))
			}
		})
	}
}
