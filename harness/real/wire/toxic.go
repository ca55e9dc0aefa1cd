package wire

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/Shopify/toxiproxy/v2/stream"
	"github.com/Shopify/toxiproxy/v2/toxics"
)

func init() {
	toxics.Register(ToxicType, new(Toxic))
}

// Toxic is the harness-wire toxic: its attributes name the hook that decides and the protocol
// the link speaks. Toxiproxy makes one per proxy and stream.
type Toxic struct {
	Hook  string `json:"hook"`
	Proto Proto  `json:"proto"`
}

// DeferWait is how long a deferred delivery waits for the next delivery on its connection: when
// none has come by then (the last message, or a prefetch of 1), it goes out on its own.
const DeferWait = 500 * time.Millisecond

// state is a link direction's state; it outlives re-pipes (toxics added or removed on the link).
type state struct {
	w     *watch
	flow  flow
	out   []*stream.StreamChunk // to forward before anything else
	ended bool                  // the input closed: forward out, then close
	told  bool                  // a Closer hook was told the direction ended
}

// NewState starts a link direction. A link that opens with the toxic in place is numbered with
// its other direction and parsed; one the toxic is added to while it is open gets a number of
// its own and is not parsed (only frozen): its next chunk may start anywhere in a message.
func (t *Toxic) NewState() interface{} {
	st := &state{}
	st.flow.proto = t.Proto
	w := lookup(t.Hook)
	if w == nil {
		st.flow.passing = true
		return st
	}
	st.w = w
	var key *opening
	if linkStarting() {
		st.flow.fresh = true
		key = &opening{proto: t.Proto, g: goroutineID()}
	}
	st.flow.conn, st.flow.epoch = w.open(t, key)
	return st
}

// hook is the hook to ask for the next chunk, nil once it has been stopped.
func (st *state) hook() Hook {
	if st.w == nil || st.w.stopped.Load() {
		return nil
	}
	return st.w.h
}

// Pipe forwards the link's chunks through the flow. It returns when interrupted (the toxic
// chain changes; the state keeps everything held) or when the link ends.
func (t *Toxic) Pipe(stub *toxics.ToxicStub) {
	st, ok := stub.State.(*state)
	if !ok {
		new(toxics.NoopToxic).Pipe(stub)
		return
	}
	for {
		for len(st.out) > 0 {
			select {
			case stub.Output <- st.out[0]:
				st.out[0] = nil
				st.out = st.out[1:]
			case <-stub.Interrupt:
				return
			}
		}
		switch {
		case st.ended:
			stub.Close()
			return
		case st.flow.reset:
			// Close this direction's output: the link closes its destination, and with it the
			// connection's other direction. Then read until the link's reader ends.
			st.ended = true
			st.tellEnded()
			stub.Close()
			for range stub.Input {
			}
			return
		}
		var deferred <-chan time.Time
		if len(st.flow.deferred) > 0 {
			deferred = time.After(DeferWait)
		}
		select {
		case <-stub.Interrupt:
			return
		case <-deferred:
			st.emit(st.flow.releaseDeferred(), time.Now())
		case c := <-stub.Input:
			if c == nil {
				st.ended = true
				st.emit(st.flow.finish(st.hook()), time.Now())
				st.tellEnded()
				continue
			}
			st.emit(st.flow.feed(c.Data, st.hook()), c.Timestamp)
		}
	}
}

// tellEnded tells a Closer hook, once, that this direction ended.
func (st *state) tellEnded() {
	if st.told || !st.flow.fresh {
		return
	}
	st.told = true
	if c, ok := st.hook().(Closer); ok {
		c.Ended(st.flow.conn, st.flow.dir == dirUp)
	}
}

func (st *state) emit(b []byte, at time.Time) {
	if len(b) > 0 {
		st.out = append(st.out, &stream.StreamChunk{Data: b, Timestamp: at})
	}
}

// Cleanup runs when the toxic is removed from an open link. What the flow holds is forwarded
// and the link goes on unparsed; a stalled or reset direction cannot resume (its stream has a
// hole), so its connection is closed, as Toxiproxy's timeout toxic does.
func (t *Toxic) Cleanup(stub *toxics.ToxicStub) {
	st, ok := stub.State.(*state)
	if !ok {
		return
	}
	if st.flow.stalled || st.flow.reset || st.ended {
		stub.Close()
		go func() {
			for range stub.Input {
			}
		}()
		return
	}
	st.emit(st.flow.drain(st.hook()), time.Now())
	for _, c := range st.out {
		if err := stub.WriteOutput(c, 5*time.Second); err != nil {
			break
		}
	}
	st.out = nil
}

// linkStarting reports whether the state is being made for a link that is opening (Toxiproxy's
// ToxicLink.Start) rather than for a toxic added to an open link (ToxicLink.AddToxic).
func linkStarting() bool {
	var pcs [24]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	for {
		fr, more := frames.Next()
		switch {
		case strings.HasSuffix(fr.Function, ".(*ToxicLink).Start"):
			return true
		case strings.HasSuffix(fr.Function, ".(*ToxicLink).AddToxic"):
			return false
		}
		if !more {
			return true
		}
	}
}

// goroutineID is the calling goroutine's number: the goroutine that opens both links of a
// connection, one after the other, pairs them.
func goroutineID() uint64 {
	var b [64]byte
	s := b[:runtime.Stack(b[:], false)]
	s = bytes.TrimPrefix(s, []byte("goroutine "))
	if i := bytes.IndexByte(s, ' '); i > 0 {
		s = s[:i]
	}
	n, _ := strconv.ParseUint(string(s), 10, 64)
	return n
}
