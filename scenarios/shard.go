package scenarios

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/deliveryharness/harness/scenarios/result"
)

// Shard is one part of a matrix split over N machines: shard K of N (1 <= K <= N) takes every
// N-th cell of the selection, starting at its K-th, with all of each cell's seeds, so that a
// cell's search, shrinking and counterexample stay whole. The split is deterministic: the same
// selection and N give every shard the same cells on any machine.
type Shard struct{ K, N int }

// Whole is the shard of one: every cell.
var Whole = Shard{K: 1, N: 1}

// ParseShard reads "K/N".
func ParseShard(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	if !ok || kerr != nil || nerr != nil || n < 1 || k < 1 || k > n {
		return Shard{}, fmt.Errorf("shard %q: want K/N with 1 <= K <= N, e.g. 2/4", s)
	}
	return Shard{K: k, N: n}, nil
}

// String renders the shard as K/N.
func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Indices returns the positions in a selection of total cells that the shard takes, in order.
func (s Shard) Indices(total int) []int {
	var out []int
	for i := s.K - 1; i < total; i += s.N {
		out = append(out, i)
	}
	return out
}

// ShardResult is a shard's cells with their positions in the whole selection, what a merge
// needs to put the shards back in order.
type ShardResult struct {
	Shard Shard `json:"shard"`
	Total int   `json:"total"` // cells in the whole selection
	Cells []struct {
		Index  int               `json:"index"`
		Result result.CellResult `json:"result"`
	} `json:"cells"`
}

// NewShardResult records a shard's results; results[i] is the cell at indices[i].
func NewShardResult(s Shard, total int, indices []int, results []result.CellResult) ShardResult {
	sr := ShardResult{Shard: s, Total: total}
	for i, r := range results {
		sr.Cells = append(sr.Cells, struct {
			Index  int               `json:"index"`
			Result result.CellResult `json:"result"`
		}{indices[i], r})
	}
	return sr
}

// Merge puts shards back together in the selection's order. Every shard must come from the same
// split (the same N and total), each once, and together they must hold every cell once.
func Merge(shards []ShardResult) ([]result.CellResult, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("merge: no shard given")
	}
	n, total := shards[0].Shard.N, shards[0].Total
	seen := map[int]bool{}
	out := make([]result.CellResult, total)
	have := make([]bool, total)
	for _, s := range shards {
		if s.Shard.N != n || s.Total != total {
			return nil, fmt.Errorf("merge: shard %s of %d cells does not belong with shard %s of %d cells", s.Shard, s.Total, shards[0].Shard, total)
		}
		if seen[s.Shard.K] {
			return nil, fmt.Errorf("merge: shard %s given twice", s.Shard)
		}
		seen[s.Shard.K] = true
		for _, c := range s.Cells {
			if c.Index < 0 || c.Index >= total || have[c.Index] {
				return nil, fmt.Errorf("merge: shard %s: cell %d out of place", s.Shard, c.Index)
			}
			out[c.Index], have[c.Index] = c.Result, true
		}
	}
	for k := 1; k <= n; k++ {
		if !seen[k] {
			return nil, fmt.Errorf("merge: shard %d/%d missing", k, n)
		}
	}
	for i, ok := range have {
		if !ok {
			return nil, fmt.Errorf("merge: cell %d of %d missing", i, total)
		}
	}
	return out, nil
}
