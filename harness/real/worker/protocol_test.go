package worker

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
)

// TestLinkRoundTrip: what a worker sends, the parent decodes; what the parent replies, the
// worker reads; anything else, or nothing, means the parent is gone.
func TestLinkRoundTrip(t *testing.T) {
	var replies bytes.Buffer
	for _, r := range []Reply{ReplyGo, ReplyReorder} {
		if err := WriteReply(&replies, r); err != nil {
			t.Fatal(err)
		}
	}
	replies.WriteString("stop\n")
	var out bytes.Buffer
	l := NewLink(&replies, &out)
	l.Send(Message{Event: &history.Event{Proc: "relay", Op: history.OpPublish, Msg: "m1"}})
	for _, want := range []Reply{ReplyGo, ReplyReorder} {
		got, err := l.Ask(Gate{Kind: GateReorder, Msg: "m1"})
		if err != nil || got != want {
			t.Fatalf("Ask = %q, %v; want %q", got, err, want)
		}
	}
	if _, err := l.Ask(Gate{Kind: GatePoint, Point: "relay.after-publish"}); !errors.Is(err, ErrParentGone) {
		t.Fatalf("Ask after a line that is no reply: %v, want ErrParentGone", err)
	}
	if _, err := l.Ask(Gate{Kind: GateDB}); !errors.Is(err, ErrParentGone) {
		t.Fatalf("Ask after the end of the replies: %v, want ErrParentGone", err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines written, want 5:\n%s", len(lines), out.String())
	}
	first, err := Decode([]byte(lines[0]))
	if err != nil || first.Event == nil || first.Event.Msg != "m1" {
		t.Fatalf("Decode(%s) = %+v, %v", lines[0], first, err)
	}
	third, err := Decode([]byte(lines[3]))
	if err != nil || third.Gate == nil || third.Gate.Kind != GatePoint || third.Gate.Point != "relay.after-publish" {
		t.Fatalf("Decode(%s) = %+v, %v", lines[3], third, err)
	}
	if _, err := Decode([]byte("not json")); err == nil {
		t.Error("Decode of a line that is not JSON: no error")
	}
}

func TestPolls(t *testing.T) {
	for _, k := range []GateKind{GatePoint, GateProduce, GateCommit, GateCommitDone, GatePublish, GateConfirmDone,
		GateReceive, GateReorder, GateAck, GateAckDone, GateGateway} {
		if k.Polls() {
			t.Errorf("%s polls", k)
		}
	}
	if !GateBroker.Polls() || !GateDB.Polls() {
		t.Error("broker and db gates are an idle worker's polls")
	}
}
