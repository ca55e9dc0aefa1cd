package cli

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Merging the shards of a split matrix gives the report of the unsharded run: every file the
// same, byte for byte (but for the report folder's own path, which replay commands name).
func TestMergeEqualsUnsharded(t *testing.T) {
	sel := []string{"--workload", "orders", "--producer", "outbox", "--seeds", "20"}
	tmp := t.TempDir()
	whole := filepath.Join(tmp, "whole")
	r := simulate(t, append(append([]string{"matrix"}, sel...), "--out", whole)...)
	wantCode := r.code
	var shards []string
	for _, k := range []string{"1/3", "2/3", "3/3"} {
		dir := filepath.Join(tmp, "shard-"+k[:1])
		shards = append(shards, dir)
		r := simulate(t, append(append([]string{"matrix"}, sel...), "--shard", k, "--out", dir)...)
		if r.code != exitOK && r.code != exitFindings {
			t.Fatalf("shard %s: exit %d: %s", k, r.code, r.stderr)
		}
	}
	merged := filepath.Join(tmp, "merged")
	r = simulate(t, append([]string{"merge", "--out", merged}, shards...)...)
	if r.code != wantCode {
		t.Fatalf("merge: exit %d, want the unsharded run's %d: %s", r.code, wantCode, r.stderr)
	}
	n := 0
	err := filepath.WalkDir(whole, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(whole, path)
		want, _ := os.ReadFile(path)
		got, err := os.ReadFile(filepath.Join(merged, rel))
		if err != nil {
			t.Errorf("merged report lacks %s", rel)
			return nil
		}
		if !bytes.Equal(bytes.ReplaceAll(got, []byte(merged), []byte(whole)), want) {
			t.Errorf("%s differs between the merged and the unsharded report", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Fatalf("compared %d files; the report is missing files", n)
	}
}

// A merge refuses shards that do not make a whole split, in one line.
func TestMergeRefusesAnIncompleteSplit(t *testing.T) {
	sel := []string{"matrix", "--workload", "orders", "--producer", "outbox", "--fault", "none", "--seeds", "2"}
	tmp := t.TempDir()
	one := filepath.Join(tmp, "one")
	simulate(t, append(sel, "--shard", "1/2", "--out", one)...)
	for _, tc := range []struct {
		name string
		dirs []string
		want string
	}{
		{"missing shard", []string{one}, "shard 2/2 missing"},
		{"shard twice", []string{one, one}, "given twice"},
		{"not a shard", []string{tmp}, "holds no shard.json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := simulate(t, append([]string{"merge", "--out", filepath.Join(tmp, "m")}, tc.dirs...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
				t.Errorf("exit %d, stderr %q; want exit %d and one line saying %q", r.code, r.stderr, exitUsage, tc.want)
			}
		})
	}
}
