// Package sim is the deterministic simulator backend: an in-memory database at READ COMMITTED
// with unique keys, row locks and SKIP LOCKED claims, a RabbitMQ-like broker with publisher
// confirms, prefetch, acks and requeue with the redelivered flag, links that can be cut, and
// processes that crash and restart.
//
// Every simulated process runs on a coroutine (iter.Pull; idle ones are reused by later runs,
// coro.go) and holds the baton in turn: each port call is a scheduling point where a PRNG seeded
// from the scenario picks who runs next, and simulated time advances one millisecond per step. Nothing reads the wall clock or global randomness, so the
// same scenario gives the same history, byte for byte.
//
// sim imports the strategy ports, the history vocabulary, the workloads (a run applies events by
// its workload's effect kind) and the recording wrappers; nothing of harness above it.
package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/deliveryharness/harness/harness/component"
	"github.com/deliveryharness/harness/harness/fault"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/workload"
)

// Config holds the simulated timeouts, in milliseconds of simulated time, and the run's bounds.
type Config struct {
	ConfirmTimeout int64 // a publisher waits this long for a confirm
	CommitTimeout  int64 // a client waits this long for a COMMIT's reply
	LockTimeout    int64 // a lock wait gives up after this long
	IdleWait       int64 // a consumer's Next returns ErrIdle after this long
	RestartDelay   int64 // a crashed process comes back after this long
	RelayPoll      int64 // an idle relay polls the outbox this often
	Reconnect      int64 // a consumer whose channel died waits this long before reconnecting
	GatewayTimeout int64 // a consumer waits this long for the mail gateway's reply
	SlowLink       int64 // a slow link (latency) delays every reply by this much
	BrokerRestart  int64 // a broker restart (broker-restart) keeps everyone out this long
	AckWait        int64 // NATS JetStream: an unacknowledged delivery comes back after this long
	MaxTime        int64 // simulated time after which the run gives up waiting for quiescence
}

// DefaultConfig is what every catalogue run uses.
func DefaultConfig() Config {
	return Config{
		ConfirmTimeout: 50,
		CommitTimeout:  50,
		LockTimeout:    200,
		IdleWait:       100,
		RestartDelay:   30,
		RelayPoll:      10,
		Reconnect:      10,
		GatewayTimeout: 50,
		SlowLink:       80,
		BrokerRestart:  300,
		AckWait:        500,
		MaxTime:        200_000,
	}
}

// ErrNoQuiescence means the run did not settle within Config.MaxTime: a harness failure (or a
// liveness bug in a strategy), never an invariant verdict.
var ErrNoQuiescence = errors.New("sim: no quiescence before the time bound")

// world is one simulated run.
type world struct {
	cfg      Config
	sc       history.Scenario
	rng      *rand.Rand
	now      int64
	procs    []*proc
	db       *db
	br       *broker
	events   []history.Event
	schedule *fault.Schedule
	timers   []timer

	brokerCut  map[string]bool // proc -> its link to the broker is cut
	dbCut      map[string]bool // proc -> its link to the database is cut
	slow       map[link]bool   // the link is slow (latency)
	gw         *gateway
	brokerDown bool

	producerDone  bool
	producersLeft int            // producer processes whose commands are not all done
	enqueued      map[string]int // copies the broker stored, by message id (concurrent-producers waits on them; nil otherwise)
	interleaving  bool           // concurrent-producers: the first producer's COMMIT is held, the second may start
	sub           subscriber     // new-subscriber: the new subscriber's queue
	runnable      []*proc
	// The scheduler's state (loop, advance): the run ends when done holds, noting why; over once
	// it has ended, with overErr when it did not settle; handoff is the process a blocking
	// process picked to run next.
	done    func() bool
	why     string
	over    bool
	overErr error
	handoff *proc
	txs     []*tx // every transaction begun in the run (pool.go)
}

// link is one process's link to a server: db, broker or gateway.
type link struct{ proc, to string }

type timer struct {
	at   int64
	what string
	fn   func()
}

// Now implements record.Log.
func (w *world) Now() int64 { return w.now }

// Add implements record.Log.
func (w *world) Add(e history.Event) { w.events = append(w.events, e) }

func (w *world) note(proc, op, msg, key, detail string) {
	w.noteEvent(history.Event{Proc: proc, Op: op, Msg: msg, Key: key, Detail: detail})
}

// noteEvent records e, now.
func (w *world) noteEvent(e history.Event) {
	e.Time = w.now
	w.events = append(w.events, e)
}

func (w *world) after(d int64, what string, fn func()) {
	w.timers = append(w.timers, timer{at: w.now + d, what: what, fn: fn})
}

func (w *world) fireTimers() {
	w.br.expire() // JetStream's ack waits (nats.go); nothing on RabbitMQ
	for i := 0; i < len(w.timers); {
		t := w.timers[i]
		if t.at > w.now {
			i++
			continue
		}
		w.timers = append(w.timers[:i], w.timers[i+1:]...)
		t.fn()
		w.note("harness", history.OpHeal, "", "", t.what)
	}
}

// quiescent: the clients are done, nothing waits in the outbox (db.outstanding) or the broker,
// no transaction is open, no fault is still in force and every process is up and idle, waiting
// for work.
//
// It runs at every step: the cheap conditions come first, the outbox's scan last.
func (w *world) quiescent() bool {
	if !w.producerDone || len(w.timers) > 0 || w.db.open > 0 || len(w.br.ready) > 0 {
		return false
	}
	for _, p := range w.procs {
		if p.down || (!p.finished && !p.idle) {
			return false
		}
	}
	return w.db.backlog() == 0 && w.br.unacked() == 0 && !w.chainBusy() && w.db.outstanding() == 0
}

// nextWake is the earliest time a blocked process or a timer wakes up.
func (w *world) nextWake() (int64, bool) {
	best, ok := int64(0), false
	for _, p := range w.procs {
		if !p.finished && p.until > w.now && (!ok || p.until < best) {
			best, ok = p.until, true
		}
	}
	for _, t := range w.timers {
		if !ok || t.at < best {
			best, ok = t.at, true
		}
	}
	if t, due := w.br.nextDue(); due && (!ok || t < best) {
		best, ok = t, true
	}
	return best, ok
}

// newWorld builds an empty run of sc: a database, a broker, the armed fault schedule.
func newWorld(sc history.Scenario, cfg Config) *world {
	w := &world{
		cfg:       cfg,
		sc:        sc,
		rng:       rand.New(rand.NewPCG(sc.Seed, 0x5eed_0f_de11_7e47)),
		brokerCut: map[string]bool{},
		dbCut:     map[string]bool{},
		slow:      map[link]bool{},
		gw:        newGateway(),
	}
	w.db = newDB(w, sc.Workload)
	w.br = &broker{w: w}
	if sc.BrokerOf() == history.BrokerNATS {
		w.br.nats = newNATS()
	}
	w.schedule = fault.NewSchedule(sc.Faults)
	// About 24 events a command under the faults that retry most (broker-down): room for them up
	// front, so that the history, whose events grew with their fields, is not copied as it grows.
	w.events = takeEvents(24*len(sc.Commands) + 16)
	if sc.Fault == fault.ConcurrentProducers {
		w.enqueued = map[string]int{}
	}
	return w
}

// history is the run's history with the final reads; err is how the loop ended.
func (w *world) history(err error) *history.History {
	h := &history.History{
		Backend:  "sim",
		Scenario: w.sc,
		Events:   w.events,
		Final:    w.db.final(),
		Quiesced: err == nil,
		Reached:  w.schedule.Reached(),
	}
	if w.db.effect == workload.External {
		h.Final.Effects = w.gw.effects()
	}
	h.Final.Ready = len(w.br.ready)
	h.Final.Unacked = w.br.unacked()
	return h
}

// loop runs the scheduler until done holds (then it notes why) or the time bound passes.
func (w *world) loop(done func() bool, why string) (err error) {
	for _, p := range w.procs {
		p.co = takeCoro(p)
	}
	defer func() {
		for _, p := range w.procs {
			p.co.release(p)
		}
	}()
	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok && errors.Is(e, component.ErrUndeclaredPoint) {
				err = e
				return
			}
			err = fmt.Errorf("sim: a simulated process panicked: %v", r)
		}
	}()
	w.done, w.why = done, why
	// A process that blocks makes the next step's pick itself (proc.block): it runs on when the
	// pick is its own, and hands the pick over here otherwise.
	for p := w.advance(); p != nil; {
		w.handoff = nil
		p.co.next() // until p blocks again, or finishes (proc.seq marks it)
		if p = w.handoff; p == nil && !w.over {
			p = w.advance()
		}
	}
	return w.overErr
}

// advance takes the scheduler one step: it fires the timers that are due, ends the run when
// done holds or the time bound has passed (over, overErr), and otherwise picks the process that
// runs next, the PRNG choosing among the runnable ones, and moves time on by the step. It
// returns nil when the run is over. Whether the scheduler's goroutine or a blocking process runs
// it, the steps are the same.
func (w *world) advance() *proc {
	for {
		w.fireTimers()
		if w.done() {
			w.note("harness", history.OpQuiesce, "", "", w.why)
			w.over = true
			return nil
		}
		if w.now > w.cfg.MaxTime {
			w.over, w.overErr = true, fmt.Errorf("%w (%d ms)", ErrNoQuiescence, w.cfg.MaxTime)
			return nil
		}
		w.runnable = w.runnable[:0]
		for _, p := range w.procs {
			if p.ready(w.now) {
				w.runnable = append(w.runnable, p)
			}
		}
		if len(w.runnable) == 0 {
			t, ok := w.nextWake()
			if !ok {
				w.over, w.overErr = true, fmt.Errorf("%w: every process is blocked and nothing is due", ErrNoQuiescence)
				return nil
			}
			w.now = t
			continue
		}
		p := w.runnable[0]
		if len(w.runnable) > 1 {
			p = w.runnable[w.rng.IntN(len(w.runnable))]
		}
		w.now++
		return p
	}
}
