package real

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/deliveryharness/harness/harness/real/redact"
	"github.com/deliveryharness/harness/harness/real/wire"
)

// The proxies listen on ports below the kernel's ephemeral range (32768-60999 by default on
// Linux): while a cut proxy's port is free, an outgoing connection of any process could take it
// as its local port, and the heal would find it taken. A port here is picked at random and
// another tried if it is in use, or claimed by another proxy of a harness process (heldPorts).
const (
	proxyPortLo = 20000
	proxyPortHi = 32768
)

// heldPorts are the ports of this process's proxies, listening or cut, until their run closes
// them: a cut proxy's port is free on the machine, and another run must not take it, or the heal
// fails. A run in this process finds the port here; one in another process (test packages run
// side by side) finds the UDP port of the same number bound, which each held port keeps as its
// claim (the kernel frees it with the process, however it ends).
var heldPorts = struct {
	sync.Mutex
	m map[int]net.PacketConn
}{m: map[int]net.PacketConn{}}

// pickProxyPort picks a port for a new proxy; tests replace it.
var pickProxyPort = func() int { return proxyPortLo + rand.IntN(proxyPortHi-proxyPortLo) }

// holdPort claims port for this process's proxies, unless a proxy of this process or of another
// harness process holds it.
func holdPort(port int) bool {
	heldPorts.Lock()
	defer heldPorts.Unlock()
	if _, ok := heldPorts.m[port]; ok {
		return false
	}
	claim, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return false
	}
	heldPorts.m[port] = claim
	return true
}

func releasePort(port int) {
	heldPorts.Lock()
	if claim, ok := heldPorts.m[port]; ok {
		_ = claim.Close()
		delete(heldPorts.m, port)
	}
	heldPorts.Unlock()
}

// proxies is an in-process Toxiproxy server with one proxy per component per server, so that a
// fault can cut or poison exactly one link.
type proxies struct {
	mu     sync.Mutex
	srv    *toxiproxy.ApiServer
	byName map[string]*toxiproxy.Proxy
	toxics map[string]int // proxy -> toxics added, for unique names
	ports  []int          // held (heldPorts) until close
}

func newProxies() *proxies {
	return &proxies{
		srv:    toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop()),
		byName: map[string]*toxiproxy.Proxy{},
		toxics: map[string]int{},
	}
}

// add starts a proxy named name in front of the server of rawURL and returns the URL that goes
// through it.
func (ps *proxies) add(name, rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("proxy %s: bad server URL %s", name, redact.URL(rawURL))
	}
	var p *toxiproxy.Proxy
	var port int
	for try := 0; ; try++ {
		port = pickProxyPort()
		if !holdPort(port) {
			err = fmt.Errorf("port %d: %w", port, syscall.EADDRINUSE)
		} else {
			p = toxiproxy.NewProxy(ps.srv, name, fmt.Sprintf("127.0.0.1:%d", port), u.Host)
			if err = ps.srv.Collection.Add(p, true); err == nil {
				break
			}
			releasePort(port)
		}
		if !errors.Is(err, syscall.EADDRINUSE) || try == 50 {
			return "", fmt.Errorf("proxy %s: %w", name, err)
		}
	}
	ps.mu.Lock()
	ps.byName[name] = p
	ps.ports = append(ps.ports, port)
	ps.mu.Unlock()
	u.Host = p.Listen
	return u.String(), nil
}

func (ps *proxies) get(name string) (*toxiproxy.Proxy, error) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.byName[name]
	if !ok {
		return nil, fmt.Errorf("no proxy %s", name)
	}
	return p, nil
}

// cut takes a link down: its connections close and new ones are refused.
func (ps *proxies) cut(name string) error {
	p, err := ps.get(name)
	if err != nil {
		return err
	}
	p.Stop()
	return nil
}

// heal brings a link back on the same port.
func (ps *proxies) heal(name string) error {
	p, err := ps.get(name)
	if err != nil {
		return err
	}
	if err := p.Start(); err != nil && !strings.Contains(err.Error(), "already started") {
		return fmt.Errorf("heal %s: %w", name, err)
	}
	return nil
}

// poison adds a toxic to a link and returns its name, for remove.
func (ps *proxies) poison(name, typ, stream string, attrs map[string]int) (string, error) {
	a := make(map[string]any, len(attrs))
	for k, v := range attrs {
		a[k] = v
	}
	return ps.poisonWith(name, typ, stream, a)
}

// poisonWith is poison with attributes of any JSON type.
func (ps *proxies) poisonWith(name, typ, stream string, attrs map[string]any) (string, error) {
	p, err := ps.get(name)
	if err != nil {
		return "", err
	}
	ps.mu.Lock()
	ps.toxics[name]++
	toxic := fmt.Sprintf("%s-%s-%d", typ, stream, ps.toxics[name])
	ps.mu.Unlock()
	body, _ := json.Marshal(map[string]any{"name": toxic, "type": typ, "stream": stream, "toxicity": 1.0, "attributes": attrs})
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(string(body))); err != nil {
		return "", fmt.Errorf("toxic %s on %s: %w", typ, name, err)
	}
	return toxic, nil
}

// remove takes a toxic off a link.
func (ps *proxies) remove(name, toxic string) error {
	p, err := ps.get(name)
	if err != nil {
		return err
	}
	return p.Toxics.RemoveToxic(context.Background(), toxic)
}

// close stops every proxy.
func (ps *proxies) close() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.byName {
		p.Stop()
	}
	_ = ps.srv.Collection.Clear()
	for _, port := range ps.ports {
		releasePort(port)
	}
	ps.ports = nil
}

// watchProxy starts a proxy named name in front of the server of rawURL with the harness-wire
// toxic on both its streams, h deciding, and returns the URL that goes through it. Start it
// before the process that uses it connects: the toxic parses only the connections that open
// with it in place. unwatch unregisters h.
func (r *run) watchProxy(name, rawURL string, h wire.Hook, proto wire.Proto) (string, error) {
	proxied, err := r.proxies.add(name, rawURL)
	if err != nil {
		return "", err
	}
	id, stop := wire.Watch(h)
	r.stops = append(r.stops, stop)
	for _, stream := range []string{"upstream", "downstream"} {
		if _, err := r.proxies.poisonWith(name, wire.ToxicType, stream, wire.Attributes(id, proto)); err != nil {
			return "", err
		}
	}
	return proxied, nil
}

// unwatch unregisters the run's wire hooks: their toxics pass everything from then on.
func (r *run) unwatch() {
	for _, stop := range r.stops {
		stop()
	}
}
