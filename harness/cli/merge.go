package cli

// Sharded matrices: `matrix --shard K/N --out DIR` runs every N-th cell of the selection and
// writes, beside the usual report, shard.json (the shard's cells with their places in the whole
// selection); `merge --out DIR SHARD_DIR...` puts the shards back together and writes the same
// report `matrix --out` writes for the whole selection.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/deliveryharness/harness/reports"
	"github.com/deliveryharness/harness/scenarios"
)

// shardFile is the file a shard writes into its --out directory for merge.
const shardFile = "shard.json"

// writeShard writes a shard's results, with their places in the whole selection, into dir.
func writeShard(dir string, sr scenarios.ShardResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, shardFile))
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	enc := json.NewEncoder(f)
	if err := enc.Encode(sr); err != nil {
		f.Close()
		return fmt.Errorf("report %s: %w", shardFile, err)
	}
	return f.Close()
}

func readShard(dir string) (scenarios.ShardResult, error) {
	var sr scenarios.ShardResult
	raw, err := os.ReadFile(filepath.Join(dir, shardFile))
	if errors.Is(err, os.ErrNotExist) {
		return sr, usagef("merge: %s holds no %s (write shards with matrix --shard K/N --out DIR)", dir, shardFile)
	}
	if err != nil {
		return sr, fmt.Errorf("merge: %w", err)
	}
	if err := json.Unmarshal(raw, &sr); err != nil {
		return sr, usagef("merge: %s: not a shard: %v", filepath.Join(dir, shardFile), err)
	}
	return sr, nil
}

const mergeUsage = `usage: simulate merge --out DIR SHARD_DIR...

Builds one report from the --out directories of a sharded matrix (matrix --shard K/N --out DIR,
one per K): the same files matrix --out writes for the whole selection. Every shard of the split
must be there, each once. Exit 1 if a cell differs from the catalogue.
`

func cmdMerge(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("merge", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "write the merged report into `DIR`")
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fmt.Fprint(stdout, mergeUsage)
			return nil
		}
		return usagef("merge: %v", err)
	}
	if *out == "" || fs.NArg() == 0 {
		return usagef("merge needs --out DIR and at least one shard directory")
	}
	var shards []scenarios.ShardResult
	for _, dir := range fs.Args() {
		sr, err := readShard(dir)
		if err != nil {
			return err
		}
		shards = append(shards, sr)
	}
	results, err := scenarios.Merge(shards)
	if err != nil {
		return usagef("%v", err)
	}
	if err := reports.Matrix(stdout, results, reports.MatrixOptions{}); err != nil {
		return err
	}
	if err := writeReport(*out, results); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "%d shards, %d cells merged; report written to %s\n", len(shards), len(results), *out)
	if differs(results) > 0 {
		return errFindings
	}
	return nil
}
