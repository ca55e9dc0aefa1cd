package history

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestEventJSON: a history written before the typed fields reads back with them empty and
// writes out as it was; the fields round-trip.
func TestEventJSON(t *testing.T) {
	old := `{"t":12,"proc":"relay","op":"commit","outcome":"ok","detail":"order-1 order-2"}`
	var e Event
	if err := json.Unmarshal([]byte(old), &e); err != nil {
		t.Fatal(err)
	}
	if want := (Event{Time: 12, Proc: "relay", Op: OpCommit, Outcome: OK, Detail: "order-1 order-2"}); !reflect.DeepEqual(e, want) {
		t.Errorf("old event reads as %+v, want %+v", e, want)
	}
	if out, err := json.Marshal(e); err != nil || string(out) != old {
		t.Errorf("old event writes as %s (%v), want %s", out, err, old)
	}

	e = Event{Time: 3, Proc: "broker", Op: OpDeliver, Msg: "order-1", Msgs: []string{"order-1", "order-2"}, From: "relay", To: "consumer-2",
		Redelivered: true, Guard: GuardInbox, Detail: "to consumer-2, redelivered"}
	data, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	var back Event
	if err := json.Unmarshal(data, &back); err != nil || !reflect.DeepEqual(back, e) {
		t.Errorf("round trip: got %+v (%v), want %+v", back, err, e)
	}
}

// TestNames: an event names the message it is about, or each of the several a transaction touched.
func TestNames(t *testing.T) {
	one := Event{Op: OpCommit, Msg: "order-1"}
	several := Event{Op: OpCommit, Msgs: []string{"order-1", "order-2"}, Detail: "order-1 order-2 order-3"}
	for _, c := range []struct {
		e    Event
		id   string
		want bool
	}{{one, "order-1", true}, {one, "order-2", false}, {several, "order-2", true}, {several, "order-3", false}} {
		if got := c.e.Names(c.id); got != c.want {
			t.Errorf("%+v.Names(%s) = %v, want %v", c.e, c.id, got, c.want)
		}
	}
	if got := several.Subjects(); !reflect.DeepEqual(got, []string{"order-1", "order-2"}) {
		t.Errorf("Subjects = %v", got)
	}
}
