package watermillsvc_test

// The Deduplicator's default key, from Watermill v1.5.1's source
// (github.com/ThreeDotsLabs/watermill, message/router/middleware/deduplicator.go):
// (*Deduplicator).Middleware calls applyDefaultsToDeduplicator, which sets a nil KeyFactory to
// NewMessageHasherAdler32(math.MaxInt64); that hasher copies the whole of m.Payload into
// hash/adler32 and returns the checksum's 4 bytes as the key. The message's UUID takes no part.
// The default Repository, NewMapExpiringKeyRepository(time.Minute), answers IsDuplicate true for
// any key it holds, and the middleware then returns nil, nil: the message is acked unhandled.
//
// The payload the consumer hashes is the one Handle published (watermillsvc.Payload): the
// forwarder's envelope carries it as bytes and unwraps it unchanged
// (components/forwarder/envelope.go), and watermill-amqp v3's DefaultMarshaler sends it as the
// AMQP body and reads the body back as the payload (pkg/amqp/marshaler.go).
//
// Adler-32 of a short payload is two sums of its bytes, the second weighted by position: the
// orders workload's payloads, {"key":"order-i","amount":10i}, first collide at order-201 with
// order-120 (same digits in the key, same digits in the amount, same weighted sums).

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/adler32"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/deliveryharness/harness/examples/watermillsvc"
	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real"
	"github.com/deliveryharness/harness/harness/real/realtest"
	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/scenariotest"
	"github.com/deliveryharness/harness/service"
)

// collidingCommands is the fewest orders of the workload whose payloads collide under the
// default key: order-1 to order-201, where order-201's checksum is order-120's.
const collidingCommands = 201

// collidingSeed is the first seed whose scenario, drawn as `run --commands 201` draws it (fault
// none, the service's strategies), has 201 orders: TestCollidingSeed finds it again.
const collidingSeed = 580

// payloadOf is the event's payload for a generated command, as the service sends it.
func payloadOf(t testing.TB, m history.Message) []byte {
	t.Helper()
	b, err := watermillsvc.Payload(service.Command{ID: m.ID, Key: m.Key, Amount: m.Amount, Seq: m.Seq, Kind: m.Kind})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// collisions groups the commands whose payloads share an Adler-32 checksum (hash/adler32,
// computed here, not by Watermill): each group in command order, groups in the order of their
// first member; and the number of distinct checksums.
func collisions(t testing.TB, cmds []history.Message) (groups [][]string, distinct int) {
	t.Helper()
	at := map[uint32]int{}
	var all [][]string
	for _, m := range cmds {
		sum := adler32.Checksum(payloadOf(t, m))
		i, ok := at[sum]
		if !ok {
			i = len(all)
			at[sum] = i
			all = append(all, nil)
		}
		all[i] = append(all[i], m.ID)
	}
	for _, g := range all {
		if len(g) > 1 {
			groups = append(groups, g)
		}
	}
	return groups, len(all)
}

// ordersOf are the orders workload's first n commands, as scenarios.Commands makes them.
func ordersOf(n int) []history.Message {
	return scenarios.Commands(scenarios.NewSeedSource(1), "orders", n, 1)
}

// TestDefaultKeyIsAdler32OfPayload: the key of the service's Deduplicator, once the router's
// middleware set its defaults, is the Adler-32 checksum of the payload, whatever the UUID.
func TestDefaultKeyIsAdler32OfPayload(t *testing.T) {
	d := watermillsvc.New().Deduplicator()
	_ = d.Middleware(func(*message.Message) ([]*message.Message, error) { return nil, nil })
	if d.KeyFactory == nil {
		t.Fatal("the Deduplicator has no key function after Middleware")
	}
	for _, m := range ordersOf(3) {
		payload := payloadOf(t, m)
		want := binary.BigEndian.AppendUint32(nil, adler32.Checksum(payload))
		for _, uuid := range []string{m.ID, m.ID + "-other"} {
			key, err := d.KeyFactory(message.NewMessage(uuid, payload))
			if err != nil {
				t.Fatal(err)
			}
			if key != string(want) {
				t.Errorf("%s (UUID %s): key %x, want Adler-32 of %s: %x", m.ID, uuid, key, payload, want)
			}
		}
	}
}

// TestDedupKeyCollisions sends ordinary orders through the service's own Deduplicator, its
// defaults as registered, and checks that it drops exactly the orders whose payload's checksum
// an earlier order already had: distinct orders, never paid.
func TestDedupKeyCollisions(t *testing.T) {
	benchOrders := func(n int) []history.Message { // BenchmarkWatermillPipeline's orders
		out := make([]history.Message, n)
		for i := range out {
			id := fmt.Sprintf("order-%07d", i)
			out[i] = history.Message{ID: id, Key: id, Amount: 10, Kind: "OrderPlaced"}
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		cmds     []history.Message
		collide  bool
		firstTwo []string // the first colliding pair, when known
	}{
		{"a catalogue run's orders (--commands 5)", ordersOf(scenarios.DefaultLimits.MaxCommands), false, nil},
		{"200 orders", ordersOf(collidingCommands - 1), false, nil},
		{"201 orders", ordersOf(collidingCommands), true, []string{"order-120", "order-201"}},
		{"1000 orders (the CLI's --commands limit)", ordersOf(1000), true, []string{"order-120", "order-201"}},
		{"3000 orders", ordersOf(3000), true, []string{"order-120", "order-201"}},
		{"the benchmark's 3000 orders, amount 10 each", benchOrders(3000), true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, distinct := collisions(t, tc.cmds)
			var wantDropped []string
			for _, g := range groups {
				wantDropped = append(wantDropped, g[1:]...)
			}
			slices.Sort(wantDropped)

			d := watermillsvc.New().Deduplicator()
			var handled []string
			mw := d.Middleware(func(m *message.Message) ([]*message.Message, error) {
				handled = append(handled, m.UUID)
				return nil, nil
			})
			var dropped []string
			for _, m := range tc.cmds {
				msg := message.NewMessage(m.ID, payloadOf(t, m))
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				msg.SetContext(ctx)
				n := len(handled)
				_, err := mw(msg)
				cancel()
				if err != nil {
					t.Fatalf("%s: %v", m.ID, err)
				}
				if len(handled) == n {
					dropped = append(dropped, m.ID)
				}
			}
			slices.Sort(dropped)

			t.Logf("%d orders, %d distinct checksums, %d dropped as duplicates, %d colliding groups",
				len(tc.cmds), distinct, len(dropped), len(groups))
			if got := len(groups) > 0; got != tc.collide {
				t.Errorf("collisions: %v, want %v (groups %v)", got, tc.collide, groups)
			}
			if tc.firstTwo != nil && (len(groups) == 0 || !slices.Equal(groups[0][:2], tc.firstTwo)) {
				t.Errorf("first colliding pair: want %v, groups %v", tc.firstTwo, groups[:min(3, len(groups))])
			}
			if !slices.Equal(dropped, wantDropped) {
				t.Errorf("the Deduplicator dropped %d orders, the checksums say %d: %v, want %v",
					len(dropped), len(wantDropped), dropped[:min(10, len(dropped))], wantDropped[:min(10, len(wantDropped))])
			}
			if len(handled)+len(dropped) != len(tc.cmds) || len(handled) != distinct {
				t.Errorf("%d handled + %d dropped of %d, %d distinct checksums", len(handled), len(dropped), len(tc.cmds), distinct)
			}
		})
	}
}

// drawn is the scenario the harness draws for seed with at most commands orders, fault none, for
// the service as registered: what `run --backend real --producer watermill --consumer watermill
// --workload orders --fault none --commands N --first-seed S --seeds 1` runs.
func drawn(t testing.TB, seed uint64, commands int) history.Scenario {
	t.Helper()
	p, c, err := service.Strategies(watermillsvc.Name)
	if err != nil {
		t.Fatal(err)
	}
	lim := scenarios.DefaultLimits
	lim.MaxCommands = commands
	sc, err := scenarios.GenerateFor(scenarios.NewSeedSource(seed), p, c, "orders", fault.None, lim)
	if err != nil {
		t.Fatal(err)
	}
	sc.Seed = seed
	return sc
}

// TestCollidingSeed searches seeds offline: which drawn runs of the service hold orders whose
// payloads collide under the default key. A catalogue-sized run (5 orders at most) never does;
// with --commands 1000 most do; collidingSeed is the first seed of --commands 201 that does.
func TestCollidingSeed(t *testing.T) {
	for _, tc := range []struct {
		name     string
		commands int
		seeds    uint64
		want     func(colliding []uint64) string // "" when as expected
	}{
		{"the catalogue's limits", scenarios.DefaultLimits.MaxCommands, 1000, func(c []uint64) string {
			if len(c) > 0 {
				return fmt.Sprintf("seeds %v collide", c)
			}
			return ""
		}},
		{"--commands 201", collidingCommands, collidingSeed, func(c []uint64) string {
			if !slices.Equal(c, []uint64{collidingSeed}) {
				return fmt.Sprintf("colliding seeds %v, want only the last, %d", c, collidingSeed)
			}
			return ""
		}},
		{"--commands 1000", 1000, 100, func(c []uint64) string {
			if len(c) == 0 {
				return "no seed collides"
			}
			return ""
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var colliding []uint64
			for seed := uint64(1); seed <= tc.seeds; seed++ {
				if groups, _ := collisions(t, drawn(t, seed, tc.commands).Commands); len(groups) > 0 {
					colliding = append(colliding, seed)
				}
			}
			t.Logf("--commands %d: %d of seeds 1 to %d draw colliding orders (first %v)", tc.commands, len(colliding), tc.seeds, colliding[:min(5, len(colliding))])
			if msg := tc.want(colliding); msg != "" {
				t.Error(msg)
			}
		})
	}
}

// TestWatermillDedupKeyDropsDistinctOrder runs the service as registered on real servers with no
// fault, and checks that the harness finds the orders the default key drops: no-lost-effect
// breaks for exactly one order of each colliding pair, and for no other order. The first case is
// a run the harness draws itself (collidingSeed with --commands 201); the second, the smallest
// command set that collides: the workload's order-120 and order-201 alone.
func TestWatermillDedupKeyDropsDistinctOrder(t *testing.T) {
	inf := realtest.Require(t)
	p, c, err := service.Strategies(watermillsvc.Name)
	if err != nil {
		t.Fatal(err)
	}
	pair := ordersOf(collidingCommands)
	pairOnly := drawn(t, collidingSeed, 2)
	pairOnly.Consumers, pairOnly.Prefetch = 1, 1
	pairOnly.Commands = []history.Message{pair[119], pair[200]}
	for _, tc := range []struct {
		name string
		sc   history.Scenario
	}{
		{fmt.Sprintf("seed %d of --commands %d", collidingSeed, collidingCommands), drawn(t, collidingSeed, collidingCommands)},
		{"order-120 and order-201 alone", pairOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			groups, _ := collisions(t, tc.sc.Commands)
			if len(groups) == 0 {
				t.Fatalf("the scenario's %d orders do not collide", len(tc.sc.Commands))
			}
			ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
			defer cancel()
			h, err := harness.RunWith(ctx, real.NewBackend(inf), tc.sc, p, c)
			if err != nil {
				t.Fatal(err)
			}
			vs := invariants.Check(h)
			lost := map[string]bool{}
			for _, v := range vs {
				if v.Invariant == invariants.NoLostEffect {
					for _, id := range v.Msgs {
						lost[id] = true
					}
				}
			}
			grouped := 0
			for _, g := range groups {
				n := 0
				for _, id := range g {
					if lost[id] {
						n++
					}
				}
				if n != len(g)-1 {
					t.Errorf("colliding orders %v: %d never paid, want %d", g, n, len(g)-1)
				}
				grouped += n
			}
			if grouped != len(lost) {
				t.Errorf("%d orders never paid, %d of them colliding ones: %v", len(lost), grouped, lost)
			}
			var names []string
			for _, v := range vs {
				names = append(names, fmt.Sprintf("%s: %s", v.Invariant, v.Detail))
			}
			t.Logf("%d orders, colliding %v; violations:\n  %s", len(tc.sc.Commands), groups, names)
			if t.Failed() {
				t.Log(scenariotest.Describe(h, vs))
			}
		})
	}
}
