//go:build unix

package pg

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// peekSocket looks at what the kernel holds for c without taking it and without waiting: data,
// nothing, or the peer's end (a FIN, or a reset). It clears c's read deadline.
func peekSocket(c net.Conn) sockState {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return sockUnknown
	}
	rc, err := sc.SyscallConn()
	if err != nil || c.SetReadDeadline(time.Time{}) != nil {
		return sockUnknown
	}
	state := sockUnknown
	var buf [1]byte
	err = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case n > 0:
			state = sockData
		case err == nil:
			state = sockEnded
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EWOULDBLOCK):
			state = sockEmpty
		case errors.Is(err, syscall.EINTR):
		default:
			state = sockEnded
		}
		return true
	})
	if err != nil {
		return sockUnknown
	}
	return state
}
