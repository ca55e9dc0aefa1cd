//go:build !unix

package pg

import "net"

// peekSocket cannot look at a socket here: the reader waits readPeek instead.
func peekSocket(net.Conn) sockState { return sockUnknown }
