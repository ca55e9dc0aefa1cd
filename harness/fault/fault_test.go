package fault

import (
	"slices"
	"testing"

	"github.com/deliveryharness/harness/harness/history"
)

func TestTargets(t *testing.T) {
	cases := []struct {
		kind string
		topo Topology
		want []string
	}{
		{CrashProducer, Topology{Relay: false, Consumers: 1}, []string{"producer"}},
		{CrashRelay, Topology{Relay: false, Consumers: 1}, nil},
		{CrashRelay, Topology{Relay: true, Consumers: 1}, []string{"relay"}},
		{CrashConsumer, Topology{Consumers: 2}, []string{"consumer-1", "consumer-2"}},
		{LostConfirm, Topology{Relay: false, Consumers: 1}, []string{"producer"}},
		{LostConfirm, Topology{Relay: true, Consumers: 1}, []string{"relay"}},
		{PartitionBroker, Topology{Relay: true, Consumers: 1}, []string{"relay", "consumer-1"}},
		{PartitionDB, Topology{Relay: true, Consumers: 1}, []string{"producer", "relay", "consumer-1"}},
		{AmbiguousCommit, Topology{Relay: false, Consumers: 1}, []string{"producer", "consumer-1"}},
		{BrokerDown, Topology{Consumers: 1}, []string{""}},
		{ConcurrentConsumers, Topology{Consumers: 3}, []string{"consumer-1"}},
		{Latency, Topology{Relay: true, Consumers: 2}, []string{"producer", "relay", "consumer-1", "consumer-2"}},
		{Reorder, Topology{Consumers: 2}, []string{"consumer-1", "consumer-2"}},
		{None, Topology{Consumers: 1}, nil},
		{LateRedelivery, Topology{Relay: true, Consumers: 1}, []string{"relay", "consumer-1"}},
		{LateRedelivery, Topology{Relay: false, Consumers: 1}, []string{"consumer-1"}},
		{NewSubscriber, Topology{Relay: true, Consumers: 1}, []string{"relay"}},
		{NewSubscriber, Topology{Relay: false, Consumers: 2}, []string{"producer"}},
	}
	for _, tc := range cases {
		k, err := Lookup(tc.kind)
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Targets(tc.topo); !slices.Equal(got, tc.want) {
			t.Errorf("%s %+v: targets %q, want %q", tc.kind, tc.topo, got, tc.want)
		}
	}
}

func TestCatalogue(t *testing.T) {
	want := []string{"none", "crash-producer", "crash-relay", "crash-consumer", "ambiguous-commit", "lost-ack",
		"lost-confirm", "partition-broker", "partition-db", "broker-down", "concurrent-consumers", "latency", "reorder", "broker-restart", "concurrent-producers", "late-redelivery", "new-subscriber"}
	if !slices.Equal(Names(), want) {
		t.Errorf("names %q, want the catalogue's %q", Names(), want)
	}
	if _, err := Lookup("nosuch"); err == nil {
		t.Error("unknown fault accepted")
	}
	k, _ := Lookup(CrashRelay)
	if k.Possible(false) == nil || k.Possible(true) != nil {
		t.Error("crash-relay needs a relay and only that")
	}
	if k, _ := Lookup(ConcurrentConsumers); k.Consumers < 2 {
		t.Error("concurrent-consumers needs two consumers")
	}
}

// TestLinks: a slow link is one the process really has.
func TestLinks(t *testing.T) {
	cases := []struct {
		proc string
		topo Topology
		want []string
	}{
		{"producer", Topology{Relay: true}, []string{LinkDB}},
		{"producer", Topology{}, []string{LinkDB, LinkBroker}},
		{"relay", Topology{Relay: true}, []string{LinkDB, LinkBroker}},
		{"consumer-1", Topology{}, []string{LinkDB, LinkBroker}},
		{"consumer-2", Topology{Gateway: true}, []string{LinkDB, LinkBroker, LinkGateway}},
		{"", Topology{}, nil},
	}
	for _, tc := range cases {
		if got := Links(tc.proc, tc.topo); !slices.Equal(got, tc.want) {
			t.Errorf("%s %+v: links %q, want %q", tc.proc, tc.topo, got, tc.want)
		}
	}
}

// TestFireLink: a latency fault counts only its target's operations on its own link.
func TestFireLink(t *testing.T) {
	s := NewSchedule([]history.Fault{{Kind: Latency, Target: "consumer-1", Link: LinkGateway, Nth: 2, Duration: 5}})
	steps := []struct {
		proc, link string
		fires      bool
	}{
		{"consumer-1", LinkDB, false},
		{"consumer-1", LinkGateway, false},
		{"consumer-2", LinkGateway, false},
		{"consumer-1", LinkGateway, true},
		{"consumer-1", LinkGateway, false},
	}
	for i, st := range steps {
		if got := s.FireLink(st.proc, st.link) != nil; got != st.fires {
			t.Errorf("step %d (%s on %s): fired %v, want %v", i, st.proc, st.link, got, st.fires)
		}
	}
	if s.Fire(OpLink, "consumer-1", "") != nil {
		t.Error("a link fault fired without its link")
	}
}

// TestSchedule: a fault fires at its target's Nth matching operation, once; other processes,
// kinds and points do not count towards it.
func TestSchedule(t *testing.T) {
	s := NewSchedule([]history.Fault{
		{Kind: CrashConsumer, Target: "consumer-1", Point: "consumer.after-effect", Nth: 2},
		{Kind: BrokerDown, Nth: 1, Duration: 10},
	})
	steps := []struct {
		op          Op
		proc, point string
		fires       string
	}{
		{OpPoint, "consumer-2", "consumer.after-effect", ""},
		{OpPoint, "consumer-1", "consumer.after-receive", ""},
		{OpPoint, "consumer-1", "consumer.after-effect", ""},
		{OpAck, "consumer-1", "", ""},
		{OpPoint, "consumer-1", "consumer.after-effect", CrashConsumer},
		{OpPoint, "consumer-1", "consumer.after-effect", ""},
		{OpBroker, "relay", "", BrokerDown},
		{OpBroker, "relay", "", ""},
	}
	for i, st := range steps {
		got := ""
		if f := s.Fire(st.op, st.proc, st.point); f != nil {
			got = f.Kind
		}
		if got != st.fires {
			t.Errorf("step %d (%s at %q): fired %q, want %q", i, st.proc, st.point, got, st.fires)
		}
	}
}

// TestOneCountPerOperation: the kinds that watch one operation are counted together, so at most
// one fault fires per operation; a fault whose kind watches another operation does not count it.
func TestOneCountPerOperation(t *testing.T) {
	s := NewSchedule([]history.Fault{
		{Kind: PartitionBroker, Target: "relay", Nth: 1, Duration: 10},
		{Kind: BrokerDown, Nth: 1, Duration: 10},
		{Kind: LostConfirm, Target: "relay", Nth: 2},
	})
	var got []string
	for range 3 {
		for _, op := range []Op{OpPublish, OpBroker} {
			if f := s.Fire(op, "relay", ""); f != nil {
				got = append(got, op.String()+":"+f.Kind)
			}
		}
	}
	want := []string{"broker:" + PartitionBroker, "publish:" + LostConfirm, "broker:" + BrokerDown}
	if !slices.Equal(got, want) {
		t.Errorf("fired %q, want %q", got, want)
	}
}

// TestDeclarations: every kind but none watches an operation, can hit someone in a full
// topology, and draws a positive Nth; Watching lists each kind under its own operation only;
// short names fit the matrix header and are distinct.
func TestDeclarations(t *testing.T) {
	full := Topology{Relay: true, Consumers: 2, Gateway: true}
	shorts := map[string]bool{}
	for _, k := range Kinds() {
		if k.Short == "" || len(k.Short) > 8 || shorts[k.Short] {
			t.Errorf("%s: short name %q is empty, longer than 8 or taken", k.Name, k.Short)
		}
		shorts[k.Short] = true
		if k.Bound.Nth(1) < 1 {
			t.Errorf("%s: Nth bound %d for one command", k.Name, k.Bound.Nth(1))
		}
		if k.Name == None {
			if k.Watches != OpNone || len(k.Targets(full)) != 0 {
				t.Errorf("none watches %s, targets %q", k.Watches, k.Targets(full))
			}
			continue
		}
		if k.Watches == OpNone || len(k.Targets(full)) == 0 {
			t.Errorf("%s watches %s, targets %q", k.Name, k.Watches, k.Targets(full))
		}
		for op := range numOps {
			if slices.Contains(Watching(op), k.Name) != (op == k.Watches) {
				t.Errorf("%s: Watching(%s) = %q", k.Name, op, Watching(op))
			}
		}
	}
}

// TestNthBound: the generator's draws of Nth, as they were before the bounds were declared.
func TestNthBound(t *testing.T) {
	for _, tc := range []struct {
		kind     string
		commands []int
		want     []int
	}{
		{CrashProducer, []int{1, 2, 5}, []int{1, 2, 5}},
		{LostConfirm, []int{1, 2, 5}, []int{1, 2, 5}},
		{PartitionDB, []int{1, 2, 5}, []int{3, 6, 15}},
		{Latency, []int{1, 2, 5}, []int{3, 6, 15}},
		{Reorder, []int{1, 2, 5}, []int{1, 1, 3}},
		{ConcurrentConsumers, []int{1, 2, 5}, []int{1, 1, 3}},
	} {
		k, _ := Lookup(tc.kind)
		for i, n := range tc.commands {
			if got := k.Bound.Nth(n); got != tc.want[i] {
				t.Errorf("%s, %d commands: Nth up to %d, want %d", tc.kind, n, got, tc.want[i])
			}
		}
	}
}
