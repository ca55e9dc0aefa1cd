package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/deliveryharness/harness/harness"
	"github.com/deliveryharness/harness/harness/history"
	"github.com/deliveryharness/harness/harness/real/containers"
	"github.com/deliveryharness/harness/harness/real/infra"
	"github.com/deliveryharness/harness/invariants"
)

// demoActs is what each demo must show, act by act: the strategy pairing and the verdict line,
// with the violation's words where one broke. It is written here, apart from the stories, so
// that a story whose act stops showing what its narration promises fails this test.
var demoActs = map[string][]struct{ pairing, verdict, detail string }{
	"payment-charged-twice": {
		{"double-write/naive", "verdict: no-duplicate-effect broken", "order-1 paid 2 times"},
		{"outbox/naive", "verdict: no-duplicate-effect broken", "order-1 paid 2 times"},
		{"outbox/inbox", "verdict: nothing broken: order-1 paid once", ""},
	},
	"lost-order": {
		{"double-write/inbox", "verdict: no-lost-effect broken", "order-1 committed but never paid"},
		{"publish-first/inbox", "verdict: no-phantom-effect broken", "order-1 paid 1 time but never committed"},
		{"outbox/inbox", "verdict: nothing broken: order-1 paid once", ""},
	},
	"second-email": {
		{"outbox/inbox", "verdict: no-duplicate-effect broken", "signup-1 emailed 2 times to user-1"},
		{"outbox/idempotency-key", "verdict: nothing broken: signup-1 emailed once to user-1", ""},
	},
	"stale-price": {
		{"double-write/natural", "verdict: converges broken", "sku-1 price 101 from price-1, expected 102 from price-2"},
		{"double-write/versioned", "verdict: nothing broken: sku-1 ends at price 102", ""},
	},
	"dedup-window": {
		{"outbox/dedup-window", "verdict: nothing broken: order-1 paid once", ""},
		{"outbox/dedup-window", "verdict: no-duplicate-effect broken", "order-1 paid 2 times"},
		{"outbox/inbox", "verdict: nothing broken: order-1 paid once", ""},
	},
}

// flat joins text's words with single spaces, so that wrapped narration compares with its source.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }

// requireInOrder fails unless each of wants occurs in text (compared flat), each after the last.
func requireInOrder(t *testing.T, text string, wants ...string) {
	t.Helper()
	text = flat(text)
	at := 0
	for _, w := range wants {
		i := strings.Index(text[at:], flat(w))
		if i < 0 {
			t.Fatalf("%q does not come after position %d of the output:\n%s", w, at, clip(text))
		}
		at += i + len(flat(w))
	}
}

// storyByName returns the story named name.
func storyByName(t *testing.T, name string) story {
	t.Helper()
	for _, s := range stories() {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no demo %q", name)
	return story{}
}

// TestDemoStraightThrough: every demo runs on the simulator, not attached to a terminal, without
// a prompt, and exits 0; its narration and each act's verdict come in order, and the recap names
// every act with its pairing, its fault and what broke.
func TestDemoStraightThrough(t *testing.T) {
	if len(demoActs) != len(stories()) {
		t.Fatalf("demoActs covers %d demos, there are %d", len(demoActs), len(stories()))
	}
	for _, s := range stories() {
		t.Run(s.name, func(t *testing.T) {
			acts, ok := demoActs[s.name]
			if !ok || len(acts) != len(s.acts) {
				t.Fatalf("demoActs[%q] has %d acts, the story %d", s.name, len(acts), len(s.acts))
			}
			a := []string{"demo", s.name}
			r := simulate(t, a...)
			requireCode(t, r, exitOK, a)
			if r.stderr != "" {
				t.Errorf("stderr: %q", r.stderr)
			}
			for _, bad := range []string{"[Enter]", "q to quit", "\033["} {
				if strings.Contains(r.stdout, bad) {
					t.Errorf("output not on a terminal contains %q", bad)
				}
			}
			wants := []string{s.name + ": " + s.title, "on the simulator", s.intro}
			for i, act := range s.acts {
				wants = append(wants, act.title, act.tell, "watch for: "+act.watch, "setup:")
				wants = append(wants, acts[i].verdict, acts[i].detail, "lesson: "+act.lesson)
			}
			wants = append(wants, "recap")
			requireInOrder(t, r.stdout, wants...)
			if n := len(timelineRows(r.stdout)); n < 5*len(s.acts) {
				t.Errorf("%d timeline rows for %d acts", n, len(s.acts))
			}
			if !strings.Contains(r.stdout, ">") {
				t.Errorf("no timeline row is marked")
			}

			recap := section(r.stdout, "recap")
			if len(recap) != 1+len(s.acts) {
				t.Fatalf("recap has %d lines, want a header and %d acts:\n%s", len(recap), len(s.acts), strings.Join(recap, "\n"))
			}
			for _, col := range []string{"act", "producer/consumer", "fault", "broke"} {
				if !strings.Contains(recap[0], col) {
					t.Errorf("recap header %q has no %q column", recap[0], col)
				}
			}
			for i, row := range recap[1:] {
				f := strings.Fields(row)
				if len(f) < 4 || f[0] != fmt.Sprint(i+1) || f[1] != acts[i].pairing {
					t.Errorf("recap row %d %q, want act %d with %s", i+1, row, i+1, acts[i].pairing)
				}
				broke := strings.TrimSuffix(strings.TrimPrefix(acts[i].verdict, "verdict: "), " broken")
				if strings.HasPrefix(broke, "nothing broken") {
					broke = "nothing"
				}
				if !strings.Contains(row, "  "+broke+"  ") {
					t.Errorf("recap row %d %q does not say it broke %q", i+1, row, broke)
				}
				if !strings.Contains(row, faultWords(mustResolve(t, s.acts[i]))) {
					t.Errorf("recap row %d %q does not name the fault", i+1, row)
				}
			}
			if !strings.Contains(flat(r.stdout), flat(s.moral)) {
				t.Errorf("the closing words are missing")
			}
		})
	}
}

// mustResolve returns an act's scenario.
func mustResolve(t *testing.T, a act) history.Scenario {
	t.Helper()
	sc, err := a.resolve()
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// TestDemoArguments: the name may come before or after the flags; without a name the demos are
// listed.
func TestDemoArguments(t *testing.T) {
	for _, a := range [][]string{
		{"demo", "stale-price", "--no-pause"},
		{"demo", "--no-pause", "stale-price"},
		{"demo", "--backend", "sim", "stale-price", "--no-pause"},
	} {
		r := simulate(t, a...)
		requireCode(t, r, exitOK, a)
		requireInOrder(t, r.stdout, "stale-price:", "recap")
	}
	a := []string{"demo"}
	r := simulate(t, a...)
	requireCode(t, r, exitOK, a)
	for _, s := range stories() {
		if !strings.Contains(r.stdout, s.name+" ") || !strings.Contains(r.stdout, s.title) {
			t.Errorf("`simulate demo` does not list %s with its title:\n%s", s.name, r.stdout)
		}
	}
}

// TestDemoBadUsage: an unknown demo, flag or backend is one line and exit 2.
func TestDemoBadUsage(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"unknown demo", []string{"demo", "nosuch"}, append([]string{quoted("nosuch")}, demoNames()...)},
		{"unknown demo after flags", []string{"demo", "--no-pause", "nosuch"}, []string{quoted("nosuch")}},
		{"two names", []string{"demo", "lost-order", "stale-price"}, []string{quoted("stale-price")}},
		{"unknown flag", []string{"demo", "lost-order", "--bogus"}, []string{"bogus"}},
		{"unknown backend", []string{"demo", "lost-order", "--backend", "nosuch"}, []string{quoted("nosuch")}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requireUsage(t, simulate(t, tc.args...), tc.args, tc.wants...)
		})
	}
}

// TestDemoHelp: `simulate demo --help`, `simulate demo -h` and `simulate help demo` list every
// demo on one line with its summary, then the demo's flags, and exit 0.
func TestDemoHelp(t *testing.T) {
	for _, a := range [][]string{
		{"demo", "--help"},
		{"demo", "-h"},
		{"help", "demo"},
		{"demo", "lost-order", "-h"},
	} {
		t.Run(strings.Join(a, " "), func(t *testing.T) {
			r := simulate(t, a...)
			requireCode(t, r, exitOK, a)
			if r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
			requireInOrder(t, r.stdout, "usage: simulate demo NAME", "demos:", "flags:", "--backend sim|real", "--no-pause")
			lines := section(r.stdout, "demos:")
			if len(lines) != len(stories()) {
				t.Fatalf("demos section %q, want one line for each of %d demos", lines, len(stories()))
			}
			for i, s := range stories() {
				if f := strings.Fields(lines[i]); len(f) == 0 || f[0] != s.name || !strings.HasSuffix(lines[i], " "+s.title) {
					t.Errorf("demos line %q, want %s and its summary", lines[i], s.name)
				}
			}
		})
	}
}

// TestListShowsDemos: `simulate list` has a demos section with each demo and its title.
func TestListShowsDemos(t *testing.T) {
	a := []string{"list"}
	r := simulate(t, a...)
	requireCode(t, r, exitOK, a)
	lines := section(r.stdout, "demos:")
	if len(lines) != len(stories()) {
		t.Fatalf("demos section %q, want %d demos", lines, len(stories()))
	}
	for i, s := range stories() {
		if f := strings.Fields(lines[i]); len(f) == 0 || f[0] != s.name || !strings.Contains(lines[i], s.title) {
			t.Errorf("demos line %q, want %s and its title", lines[i], s.name)
		}
	}
}

// fakeTerminal is a person at a terminal who types lines, then closes the input.
type fakeTerminal struct {
	lines []string
	reads int
	block bool // wait for the context instead of ending the input
}

func (f *fakeTerminal) Interactive() bool { return true }

func (f *fakeTerminal) ReadLine(ctx context.Context) (string, error) {
	f.reads++
	if len(f.lines) > 0 {
		l := f.lines[0]
		f.lines = f.lines[1:]
		return l, nil
	}
	if f.block {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return "", io.EOF
}

// withConsole makes the demo talk to con for the rest of the test.
func withConsole(t *testing.T, con console) {
	t.Helper()
	old := newConsole
	newConsole = func(io.Writer) console { return con }
	t.Cleanup(func() { newConsole = old })
}

// TestDemoPauses: on a terminal the demo waits for Enter before each act, before running it,
// before the verdict and before the recap; q quits (exit 0); when the input ends it goes on
// straight through; --no-pause never waits.
func TestDemoPauses(t *testing.T) {
	const name = "payment-charged-twice" // three acts: 1 + 3*3 pauses
	enter := func(n int) []string { return make([]string, n) }
	tests := []struct {
		name    string
		typed   []string
		flags   []string
		prompts int      // prompts shown
		reads   int      // lines read
		wants   []string // in order
		absent  []string
	}{
		{"enter all the way", enter(20), nil, 10, 10,
			[]string{"[Enter] for act 1", "== act 1 of 3", "[Enter] to run it", "what happened", "[Enter] for the verdict",
				"verdict: no-duplicate-effect broken", "lesson:", "[Enter] for act 2", "== act 3 of 3", "[Enter] for the recap", "recap"},
			[]string{"stopped."}},
		{"q at the first prompt", []string{"q"}, nil, 1, 1,
			[]string{"act 3  outbox, inbox", "[Enter] for act 1, q to quit", "stopped."},
			[]string{"== act 1", "recap"}},
		{"q after the first verdict", append(enter(3), " Q "), nil, 4, 4,
			[]string{"verdict: no-duplicate-effect broken", "lesson:", "[Enter] for act 2", "stopped."},
			[]string{"== act 2", "recap"}},
		{"input ends", enter(2), nil, 3, 3,
			[]string{"[Enter] to run it", "what happened", "[Enter] for the verdict", "== act 3 of 3", "recap"},
			[]string{"stopped."}},
		{"no pause", enter(5), []string{"--no-pause"}, 0, 0,
			[]string{"== act 1 of 3", "== act 3 of 3", "recap"},
			[]string{"stopped."}},
	}
	t.Setenv("NO_COLOR", "")
	t.Setenv("TERM", "xterm")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			term := &fakeTerminal{lines: tc.typed}
			withConsole(t, term)
			a := append([]string{"demo", name}, tc.flags...)
			r := simulate(t, a...)
			requireCode(t, r, exitOK, a)
			if n := strings.Count(r.stdout, "q to quit"); n != tc.prompts {
				t.Errorf("%d prompts, want %d", n, tc.prompts)
			}
			if term.reads != tc.reads {
				t.Errorf("%d lines read, want %d", term.reads, tc.reads)
			}
			requireInOrder(t, r.stdout, tc.wants...)
			for _, s := range tc.absent {
				if strings.Contains(r.stdout, s) {
					t.Errorf("output contains %q", s)
				}
			}
			if !strings.Contains(r.stdout, ansiBold) {
				t.Errorf("no colour on a terminal")
			}
		})
	}
}

// TestDemoInterrupted: an interrupt while the demo waits for Enter stops it with one line.
func TestDemoInterrupted(t *testing.T) {
	withConsole(t, &fakeTerminal{block: true})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var stdout, stderr bytes.Buffer
	if code := run(ctx, []string{"demo", "lost-order"}, &stdout, &stderr, false); code != exitFailure {
		t.Fatalf("exit %d, want %d", code, exitFailure)
	}
	if stderr.String() != "simulate: demo interrupted\n" {
		t.Errorf("stderr %q", stderr.String())
	}
}

// TestStdConsole: the console on stdin returns the lines typed, then io.EOF for good once the
// input ends, and gives up waiting when the context ends.
func TestStdConsole(t *testing.T) {
	pr, pw := io.Pipe()
	c := &stdConsole{in: pr, interactive: true}
	ctx := context.Background()
	go func() {
		_, _ = io.WriteString(pw, "\nq\r\nlast")
		_ = pw.Close()
	}()
	for _, want := range []string{"", "q", "last"} {
		if got, err := c.ReadLine(ctx); got != want || err != nil {
			t.Fatalf("ReadLine = %q, %v; want %q", got, err, want)
		}
	}
	for range 2 {
		if _, err := c.ReadLine(ctx); !errors.Is(err, io.EOF) {
			t.Fatalf("after the input ended: %v, want io.EOF", err)
		}
	}

	idle, _ := io.Pipe() // nothing is ever typed
	c = &stdConsole{in: idle}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := c.ReadLine(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting with no input: %v, want the context's error", err)
	}
}

// TestDemoDisagreement: an act whose run does not break what its story says is a harness
// failure, not a finding: the demo stops with a line naming the act, what the story says and what
// broke (exit 3 through run's default branch).
func TestDemoDisagreement(t *testing.T) {
	s := storyByName(t, "payment-charged-twice")
	s.acts[2].breaks = []invariants.Name{"no-duplicate-effect"}
	var out bytes.Buffer
	err := tell(context.Background(), s, harness.NewSim(), demoOutput{w: &out}, &pauser{})
	if err == nil {
		t.Fatal("no error for an act that broke nothing where its story says it breaks something")
	}
	var ue usageError
	if errors.As(err, &ue) || errors.Is(err, errFindings) || errors.Is(err, errQuit) {
		t.Fatalf("%v is not a harness failure", err)
	}
	for _, w := range []string{"act 3", "outbox, inbox", "the story says no-duplicate-effect", "the run broke nothing"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if strings.Contains(out.String(), "recap") {
		t.Errorf("the demo went on after the disagreement")
	}
}

// TestDemoReal: a demo on PostgreSQL and RabbitMQ, through the same discovery as
// `simulate run --backend real`, shows what it shows on the simulator.
func TestDemoReal(t *testing.T) {
	inf := containers.Require(t)
	// The CLI discovers the servers itself: point it at the ones found here (containers included).
	t.Setenv(infra.EnvPostgresURL, inf.PostgresURL)
	t.Setenv(infra.EnvAMQPURL, inf.AMQPURL)
	for _, name := range []string{"payment-charged-twice", "lost-order", "second-email", "stale-price", "dedup-window"} {
		t.Run(name, func(t *testing.T) {
			a := []string{"demo", name, "--backend", "real"}
			r := simulate(t, a...)
			requireCode(t, r, exitOK, a)
			wants := []string{"on PostgreSQL and RabbitMQ"}
			for _, act := range demoActs[name] {
				wants = append(wants, "running on PostgreSQL and RabbitMQ", act.verdict, act.detail)
			}
			requireInOrder(t, r.stdout, append(wants, "recap")...)
			if strings.Contains(r.stdout, "[Enter]") {
				t.Errorf("a prompt on a run not attached to a terminal")
			}
			if !strings.Contains(r.stdout, "SIGKILL") && name != "stale-price" {
				t.Errorf("the timeline does not show the kill")
			}
		})
	}
}
