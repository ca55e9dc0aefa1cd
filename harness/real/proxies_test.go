package real

import (
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

// A cut proxy's port stays its own while it is cut: a proxy of another run in the same process
// that picks it takes another, and the heal finds the port free.
func TestCutProxyKeepsItsPort(t *testing.T) {
	first := proxyPortLo + 4321
	picks := []int{first, first, first + 1}
	pick := pickProxyPort
	pickProxyPort = func() int {
		p := picks[0]
		picks = picks[1:]
		return p
	}
	t.Cleanup(func() { pickProxyPort = pick })
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
