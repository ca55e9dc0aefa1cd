package real

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"testing"
)

// A proxy listens below the kernel's ephemeral port range, so that no outgoing connection takes
// its port while it is cut; after a cut it comes back on the same port.
func TestProxyPortsStayOutOfTheEphemeralRange(t *testing.T) {
	ps := newProxies()
	defer ps.close()
	for _, name := range []string{"a/postgres", "b/postgres", "c/amqp"} {
		raw, err := ps.add(name, "postgres://127.0.0.1:5432/test")
		if err != nil {
			t.Fatal(err)
		}
		u, _ := url.Parse(raw)
		port, _ := strconv.Atoi(u.Port())
		if port < proxyPortLo || port >= proxyPortHi {
			t.Errorf("%s listens on %d, outside [%d, %d)", name, port, proxyPortLo, proxyPortHi)
		}
		if err := ps.cut(name); err != nil {
			t.Fatal(err)
		}
		if err := ps.heal(name); err != nil {
			t.Fatalf("heal %s: %v", name, err)
		}
		p, _ := ps.get(name)
		if p.Listen != u.Host {
			t.Errorf("%s came back on %s, not %s", name, p.Listen, u.Host)
		}
	}
}

// pickPorts makes the proxies pick ports in this order, for the test.
func pickPorts(t *testing.T, ports ...int) {
	pick := pickProxyPort
	pickProxyPort = func() int {
		if len(ports) == 0 {
			t.Fatal("the proxies picked more ports than the test gave")
		}
		p := ports[0]
		ports = ports[1:]
		return p
	}
	t.Cleanup(func() { pickProxyPort = pick })
}

// A cut proxy's port stays its own while it is cut: a proxy of another run in the same process
// that picks it takes another, and the heal finds the port free.
func TestCutProxyKeepsItsPort(t *testing.T) {
	first := proxyPortLo + 4321
	pickPorts(t, first, first, first+1)
	a, b := newProxies(), newProxies()
	defer a.close()
	defer b.close()
	rawA, err := a.add("a/postgres", "postgres://127.0.0.1:5432/test")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cut("a/postgres"); err != nil {
		t.Fatal(err)
	}
	rawB, err := b.add("b/postgres", "postgres://127.0.0.1:5432/test")
	if err != nil {
		t.Fatal(err)
	}
	ua, _ := url.Parse(rawA)
	ub, _ := url.Parse(rawB)
	if ua.Port() != strconv.Itoa(first) || ub.Port() != strconv.Itoa(first+1) {
		t.Fatalf("ports %s and %s, want %d for the cut proxy and %d for the other", ua.Port(), ub.Port(), first, first+1)
	}
	if err := a.heal("a/postgres"); err != nil {
		t.Fatalf("heal: %v", err)
	}
}

// A port that another harness process claims (its UDP port of the same number bound, as
// holdPort does) is not taken, even while its TCP port is free (a cut proxy's); once the claim
// ends, it can be.
func TestProxySkipsAnotherProcesssPort(t *testing.T) {
	first := proxyPortLo + 5432
	claim, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", first))
	if err != nil {
		t.Skipf("cannot claim UDP port %d here: %v", first, err)
	}
	pickPorts(t, first, first+1, first)
	ps := newProxies()
	defer ps.close()
	raw, err := ps.add("a/postgres", "postgres://127.0.0.1:5432/test")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(raw); u.Port() != strconv.Itoa(first+1) {
		t.Fatalf("the proxy took port %s, want %d: %d is claimed elsewhere", u.Port(), first+1, first)
	}
	_ = claim.Close()
	raw, err = ps.add("b/postgres", "postgres://127.0.0.1:5432/test")
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := url.Parse(raw); u.Port() != strconv.Itoa(first) {
		t.Fatalf("the proxy took port %s, want %d once its claim ended", u.Port(), first)
	}
}
