//go:build unix

package pg

import (
	"net"
	"testing"
	"time"
)

// TestPeekSocket: peekSocket tells an empty socket from one with data and from one whose peer
// has gone, without taking anything and without waiting, also after a read that timed out.
func TestPeekSocket(t *testing.T) {
	for _, tc := range []struct {
		name string
		peer func(net.Conn)
		want sockState
	}{
		{name: "empty", peer: func(net.Conn) {}, want: sockEmpty},
		{name: "data", peer: func(c net.Conn) { _, _ = c.Write([]byte("x")) }, want: sockData},
		{name: "closed", peer: func(c net.Conn) { _ = c.Close() }, want: sockEnded},
		{name: "data then closed", peer: func(c net.Conn) { _, _ = c.Write([]byte("x")); _ = c.Close() }, want: sockData},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			// A read that timed out leaves the deadline in the past.
			_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatal("read from a silent peer: no timeout")
			}
			tc.peer(peer)
			time.Sleep(20 * time.Millisecond) // the loopback delivers at once; give it a moment
			start := time.Now()
			if got := peekSocket(c); got != tc.want {
				t.Errorf("peekSocket = %d, want %d", got, tc.want)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("peekSocket took %v", d)
			}
			if got := peekSocket(c); got != tc.want {
				t.Errorf("second peekSocket = %d, want %d: the first took something", got, tc.want)
			}
		})
	}
}
