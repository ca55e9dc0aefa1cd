package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requireUsage checks the bad-usage contract: exit 2, nothing on stdout, and exactly one line on
// stderr that starts with "simulate: " and contains each of wants.
func requireUsage(t *testing.T, r invocation, a []string, wants ...string) {
	t.Helper()
	requireCode(t, r, exitUsage, a)
	if r.stdout != "" {
		t.Errorf("stdout %q, want nothing", clip(r.stdout))
	}
	if !strings.HasSuffix(r.stderr, "\n") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("stderr is not exactly one line: %q", r.stderr)
	}
	if !strings.HasPrefix(r.stderr, "simulate: ") {
		t.Errorf("stderr %q does not start with %q", r.stderr, "simulate: ")
	}
	for _, w := range wants {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not mention %q", r.stderr, w)
		}
	}
}

func quoted(s string) string { return `"` + s + `"` }

func TestBadUsage(t *testing.T) {
	ok := cellArgs{"outbox", "naive", "orders", "none"}
	with := func(c cellArgs, edit func(*cellArgs)) cellArgs { edit(&c); return c }
	// without drops one --name value pair from a full cell.
	without := func(name string) []string {
		a := ok.flags()
		for i := 0; i < len(a); i += 2 {
			if a[i] == "--"+name {
				return append(append([]string{"run"}, a[:i]...), a[i+2:]...)
			}
		}
		panic(name)
	}

	tests := []struct {
		name  string
		args  []string
		wants []string
	}{
		{"unknown command", []string{"nosuch"}, []string{quoted("nosuch"), "run", "matrix", "replay", "list"}},
		{"unknown command flag-like", []string{"--seeds", "3"}, []string{quoted("--seeds")}},
		{"help unknown command", []string{"help", "nosuch"}, []string{quoted("nosuch"), "run", "matrix", "replay", "demo", "list"}},
		{"help two commands", []string{"help", "run", "matrix"}, []string{quoted("run matrix")}},
		{"help flag", []string{"help", "--seeds"}, []string{quoted("--seeds")}},
		{"help empty command", []string{"help", ""}, []string{"help"}},

		{"run unknown producer", args("run", with(ok, func(c *cellArgs) { c.producer = "nope" })), append([]string{quoted("nope")}, catalogueProducers...)},
		{"run unknown consumer", args("run", with(ok, func(c *cellArgs) { c.consumer = "nope" })), append([]string{quoted("nope")}, catalogueConsumers...)},
		{"run unknown workload", args("run", with(ok, func(c *cellArgs) { c.workload = "nope" })), append([]string{quoted("nope")}, catalogueWorkloads...)},
		{"run unknown fault", args("run", with(ok, func(c *cellArgs) { c.fault = "nope" })), append([]string{quoted("nope")}, catalogueFaults...)},
		{"matrix unknown producer", []string{"matrix", "--producer", "nope"}, append([]string{quoted("nope")}, catalogueProducers...)},
		{"matrix unknown consumer", []string{"matrix", "--consumer", "nope"}, append([]string{quoted("nope")}, catalogueConsumers...)},
		{"matrix unknown workload", []string{"matrix", "--workload", "nope"}, append([]string{quoted("nope")}, catalogueWorkloads...)},
		{"matrix unknown fault", []string{"matrix", "--fault", "nope"}, append([]string{quoted("nope")}, catalogueFaults...)},
		{"replay unknown producer", args("replay", with(ok, func(c *cellArgs) { c.producer = "nope" }), "--seed", "1"), append([]string{quoted("nope")}, catalogueProducers...)},
		{"replay unknown fault", args("replay", with(ok, func(c *cellArgs) { c.fault = "nope" }), "--seed", "1"), append([]string{quoted("nope")}, catalogueFaults...)},

		{"seeds not a number", args("run", ok, "--seeds", "abc"), []string{"seeds", quoted("abc")}},
		{"seeds zero", args("run", ok, "--seeds", "0"), []string{"--seeds", "0"}},
		{"seeds negative", args("run", ok, "--seeds", "-3"), []string{"--seeds", "-3"}},
		{"seeds missing value", args("run", ok, "--seeds"), []string{"seeds"}},
		{"first-seed negative", args("run", ok, "--first-seed", "-1"), []string{"first-seed"}},
		{"commands zero", args("run", ok, "--commands", "0"), []string{"--commands", "0"}},
		{"commands too many", args("run", ok, "--commands", "1001"), []string{"--commands", "1001"}},
		{"run unknown flag", args("run", ok, "--bogus"), []string{"bogus"}},
		{"matrix unknown flag", []string{"matrix", "--bogus"}, []string{"bogus"}},
		{"replay unknown flag", []string{"replay", "--bogus"}, []string{"bogus"}},
		{"list unknown flag", []string{"list", "--bogus"}, []string{"bogus"}},
		{"run positional argument", args("run", ok, "extra"), []string{quoted("extra")}},
		{"list positional argument", []string{"list", "extra"}, []string{quoted("extra")}},
		{"matrix seeds zero", []string{"matrix", "--seeds", "0"}, []string{"--seeds", "0"}},
		{"replay seed not a number", args("replay", ok, "--seed", "abc"), []string{"seed", quoted("abc")}},

		{"run without flags", []string{"run"}, []string{"is required"}},
		{"run without producer", without("producer"), []string{"--producer is required"}},
		{"run without consumer", without("consumer"), []string{"--consumer is required"}},
		{"run without workload", without("workload"), []string{"--workload is required"}},
		{"run without fault", without("fault"), []string{"--fault is required"}},
		{"run empty producer", args("run", with(ok, func(c *cellArgs) { c.producer = "" })), []string{"--producer is required"}},

		{"impossible combination", args("run", cellArgs{"double-write", "naive", "orders", "crash-relay"}), []string{"double-write", "crash-relay"}},
		{"impossible combination publish-first", args("run", cellArgs{"publish-first", "inbox", "credits", "crash-relay"}), []string{"publish-first", "crash-relay"}},
		{"replay impossible combination", args("replay", cellArgs{"double-write", "naive", "orders", "crash-relay"}, "--seed", "1"), []string{"double-write", "crash-relay"}},
		{"matrix selects no cell", []string{"matrix", "--producer", "double-write", "--fault", "crash-relay"}, []string{"double-write", "crash-relay"}},

		{"run unknown backend", args("run", ok, "--backend", "nosuch"), []string{quoted("nosuch")}},
		{"matrix unknown backend", []string{"matrix", "--backend", "nosuch"}, []string{quoted("nosuch")}},
		{"replay unknown backend", args("replay", ok, "--seed", "1", "--backend", "nosuch"), []string{quoted("nosuch")}},
		{"run unknown format", args("run", ok, "--format", "nosuch"), []string{quoted("nosuch"), "text", "json"}},
		{"replay html format unavailable", args("replay", ok, "--seed", "1", "--format", "html"), []string{"html"}},
		{"matrix unknown format", []string{"matrix", "--format", "nosuch"}, []string{quoted("nosuch")}},
		{"replay unknown format", args("replay", ok, "--seed", "1", "--format", "nosuch"), []string{quoted("nosuch")}},

		{"replay without seed or scenario", []string{"replay"}, []string{"--seed", "--scenario"}},
		{"replay cell without seed", args("replay", ok), []string{"--seed", "--scenario"}},
		{"replay seed without cell", []string{"replay", "--seed", "1"}, []string{"is required"}},
		{"replay missing scenario file", []string{"replay", "--scenario", "/nonexistent.json"}, []string{"/nonexistent.json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(t, tc.args...)
			requireUsage(t, r, tc.args, tc.wants...)
		})
	}
}

// TestBadScenarioFile: a --scenario file that is not a runnable scenario is bad usage.
func TestBadScenarioFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		wants         []string
	}{
		{"empty file", "", []string{"not a scenario"}},
		{"not JSON", "this is not JSON\n", []string{"not a scenario"}},
		{"JSON array", "[1, 2, 3]\n", []string{"not a scenario"}},
		{"JSON string", `"hello"` + "\n", []string{"not a scenario"}},
		{"JSON null", "null\n", []string{"not a scenario"}},
		{"unrelated object", `{"name": "x", "items": [1, 2]}` + "\n", []string{"not a scenario"}},
		{"counterexample without scenario", `{"seed": 3, "scenario": null}` + "\n", []string{"not a scenario"}},
		{"matrix report", `{"cells": []}` + "\n", []string{"not a scenario"}},
		{"unknown producer", `{"producer": "nope", "consumer": "naive", "workload": "orders", "fault": "none", "seed": 1, "consumers": 1}`, []string{quoted("nope")}},
		{"unknown consumer", `{"producer": "outbox", "consumer": "nope", "workload": "orders", "fault": "none", "seed": 1, "consumers": 1}`, []string{quoted("nope")}},
		{"impossible combination", `{"producer": "double-write", "consumer": "naive", "workload": "orders", "fault": "crash-relay", "seed": 1, "consumers": 1}`, []string{"double-write", "crash-relay"}},
		{"fault nth zero", `{"producer": "double-write", "consumer": "naive", "workload": "orders", "fault": "crash-consumer", "seed": 1, "consumers": 1, "prefetch": 1,
			"commands": [{"id": "order-1", "key": "order-1", "amount": 10, "kind": "OrderPlaced"}],
			"faults": [{"kind": "crash-consumer", "target": "consumer-1", "point": "consumer.after-effect", "nth": 0}]}`, []string{"nth"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, "scenario"+string(rune('a'+i))+".json")
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			a := []string{"replay", "--scenario", path}
			requireUsage(t, simulate(t, a...), a, tc.wants...)
		})
	}
	t.Run("directory", func(t *testing.T) {
		a := []string{"replay", "--scenario", dir}
		requireUsage(t, simulate(t, a...), a, dir)
	})
}

// TestCommandHelp: `simulate help CMD`, `simulate CMD -h` and `simulate CMD --help` print the
// command's usage, what it does and its flags on stdout, and exit 0.
func TestCommandHelp(t *testing.T) {
	tests := []struct {
		cmd         string
		wants, nots []string
	}{
		{"run", []string{"usage: simulate run --producer P --consumer C --workload W --fault F", "Exit 1",
			"--producer P", "--consumer C", "--workload W", "--fault F", "--seeds N", "(default 100)", "--first-seed S",
			"--commands N", "--no-shrink", "--backend sim|real", "--format FORMAT"}, nil},
		{"matrix", []string{"usage: simulate matrix", "--out DIR", "--seeds N", "--format FORMAT"}, nil},
		{"replay", []string{"usage: simulate replay --producer P", "simulate replay --scenario FILE", "--seed S", "--scenario FILE", "--no-shrink"},
			[]string{"--seeds", "--first-seed"}},
		{"list", []string{"usage: simulate list", "strategies"}, []string{"flags:"}},
	}
	for _, tc := range tests {
		for _, a := range [][]string{{"help", tc.cmd}, {tc.cmd, "-h"}, {tc.cmd, "--help"}} {
			t.Run(strings.Join(a, " "), func(t *testing.T) {
				r := simulate(t, a...)
				requireCode(t, r, exitOK, a)
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
				if !strings.HasPrefix(r.stdout, "usage: simulate "+tc.cmd) {
					t.Errorf("help does not start with its usage line:\n%s", r.stdout)
				}
				for _, w := range tc.wants {
					if !strings.Contains(r.stdout, w) {
						t.Errorf("help lacks %q:\n%s", w, r.stdout)
					}
				}
				for _, n := range tc.nots {
					if strings.Contains(r.stdout, n) {
						t.Errorf("help has %q:\n%s", n, r.stdout)
					}
				}
			})
		}
	}
}
