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
