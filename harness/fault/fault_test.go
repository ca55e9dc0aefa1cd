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
		"lost-confirm", "partition-broker", "partition-db", "broker-down", "concurrent-consumers", "latency", "reorder"}
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
	lat := []string{Latency}
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
		if got := s.FireLink(lat, st.proc, st.link) != nil; got != st.fires {
			t.Errorf("step %d (%s on %s): fired %v, want %v", i, st.proc, st.link, got, st.fires)
		}
	}
	if s.Fire(lat, "consumer-1", "") != nil {
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
	crash := []string{CrashConsumer}
	steps := []struct {
		kinds       []string
		proc, point string
		fires       string
	}{
		{crash, "consumer-2", "consumer.after-effect", ""},
		{crash, "consumer-1", "consumer.after-receive", ""},
		{crash, "consumer-1", "consumer.after-effect", ""},
		{[]string{LostAck}, "consumer-1", "", ""},
		{crash, "consumer-1", "consumer.after-effect", CrashConsumer},
		{crash, "consumer-1", "consumer.after-effect", ""},
		{[]string{BrokerDown}, "relay", "", BrokerDown},
		{[]string{BrokerDown}, "relay", "", ""},
	}
	for i, st := range steps {
		got := ""
		if f := s.Fire(st.kinds, st.proc, st.point); f != nil {
			got = f.Kind
		}
		if got != st.fires {
			t.Errorf("step %d (%s at %q): fired %q, want %q", i, st.proc, st.point, got, st.fires)
		}
	}
}
