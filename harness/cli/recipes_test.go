package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The checked-in recipes that run a real-server catalogue in shards (a GitHub Actions matrix and
// a Kubernetes Indexed Job) parse, split the same N ways they merge, and use the CLI's flags.
func TestShardRecipes(t *testing.T) {
	read := func(path string) map[string]any {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join("..", "..", path))
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		return doc
	}
	get := func(doc any, keys ...string) any {
		t.Helper()
		for _, k := range keys {
			m, ok := doc.(map[string]any)
			if !ok {
				t.Fatalf("no %s in %v", k, keys)
			}
			doc = m[k]
		}
		return doc
	}
	steps := func(job any) string {
		var b strings.Builder
		for _, s := range get(job, "steps").([]any) {
			if run, ok := s.(map[string]any)["run"].(string); ok {
				b.WriteString(run + "\n")
			}
		}
		return b.String()
	}

	wf := read(".github/workflows/real-catalogue.yml")
	shards := get(wf, "jobs", "shard", "strategy", "matrix", "shard").([]any)
	n := len(shards)
	for i, s := range shards {
		if s != i+1 {
			t.Errorf("workflow shard %d is %v, want %d", i, s, i+1)
		}
	}
	shardRun := steps(get(wf, "jobs", "shard"))
	mergeRun := steps(get(wf, "jobs", "merge"))
	if !strings.Contains(shardRun, fmt.Sprintf("--shard ${{ matrix.shard }}/%d --out shard-${{ matrix.shard }}", n)) {
		t.Errorf("the workflow's shard step does not run shard K/%d into shard-K:\n%s", n, shardRun)
	}
	switch needs := get(wf, "jobs", "merge", "needs").(type) {
	case string:
		if needs != "shard" {
			t.Errorf("the merge job waits for %q, not the shards", needs)
		}
	case []any:
		if !slices.Contains(needs, any("shard")) {
			t.Errorf("the merge job does not wait for the shards")
		}
	default:
		t.Errorf("the merge job does not wait for the shards")
	}

	job := read("deploy/k8s/real-catalogue-job.yaml")
	if get(job, "kind") != "Job" || get(job, "spec", "completionMode") != "Indexed" {
		t.Errorf("the manifest is not an Indexed Job")
	}
	if c, p := get(job, "spec", "completions"), get(job, "spec", "parallelism"); c != n || p != n {
		t.Errorf("the Job runs %v completions, %v at once; want %d, as the workflow", c, p, n)
	}
	container := get(job, "spec", "template", "spec", "containers").([]any)[0]
	args := strings.Join(func() []string {
		var out []string
		for _, a := range get(container, "args").([]any) {
			out = append(out, a.(string))
		}
		return out
	}(), " ")
	if !strings.Contains(args, fmt.Sprintf(`--shard "$k/%d"`, n)) || !strings.Contains(args, "JOB_COMPLETION_INDEX + 1") {
		t.Errorf("the Job's pods do not run shard index+1 of %d: %s", n, args)
	}
	raw, _ := os.ReadFile(filepath.Join("..", "..", "deploy/k8s/real-catalogue-job.yaml"))

	var dirs, pods []string
	for k := 1; k <= n; k++ {
		dirs = append(dirs, fmt.Sprintf("shard-%d", k))
		pods = append(pods, fmt.Sprintf("/reports/shard-%d", k))
	}
	if !strings.Contains(mergeRun, "merge --out report "+strings.Join(dirs, " ")) {
		t.Errorf("the workflow merges other shards than it runs:\n%s", mergeRun)
	}
	if !strings.Contains(string(raw), "merge --out /reports/merged "+strings.Join(pods, " ")) {
		t.Errorf("the Job's merge command names other shards than it runs")
	}
	// The flags they use are the CLI's.
	for _, cmd := range [][]string{{"matrix", "-h"}, {"merge", "-h"}} {
		r := simulate(t, cmd...)
		if r.code != exitOK {
			t.Fatalf("%v: exit %d", cmd, r.code)
		}
		for _, flag := range map[string][]string{"matrix": {"-shard", "-out", "-backend", "-seeds"}, "merge": {"--out"}}[cmd[0]] {
			if !strings.Contains(r.stdout, flag) {
				t.Errorf("%s -h does not list %s", cmd[0], flag)
			}
		}
	}
}
