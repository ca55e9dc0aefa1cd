package reports

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"html"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/deliveryharness/harness/invariants"
	"github.com/deliveryharness/harness/scenarios"
	"github.com/deliveryharness/harness/scenarios/result"
)

// catalogueResults stands for the default run without running it: every cell of the catalogue,
// 100 runs each, breaking what the catalogue expects at a rate drawn from the cell's name, with a
// counterexample on every broken cell (duplicateCE's history, relabelled), and a few cells whose
// break only the search found.
func catalogueResults() []result.CellResult {
	var out []result.CellResult
	for i, c := range scenarios.Cells() {
		exp := scenarios.Expected(c)
		h := fnv.New32a()
		h.Write([]byte(c.String()))
		n := int(h.Sum32())
		r := result.CellResult{
			Producer: c.Producer, Consumer: c.Consumer, Workload: c.Workload, Fault: c.Fault,
			Backend: "sim", Runs: 100, Violations: map[invariants.Name]int{}, Expected: exp.Breaks,
			MayBreak: exp.MayBreak, Reason: exp.Reason(), Matches: true,
		}
		for _, name := range invariants.Names() {
			r.Violations[name] = 0
		}
		for k, name := range exp.Breaks {
			r.Violations[name] = 1 + (n>>(4*k))%100
		}
		if len(exp.Breaks) > 0 && i%17 == 0 {
			// The first runs missed the first break; the search found it.
			r.Violations[exp.Breaks[0]] = 0
			r.Searched = 1 + n%60
			r.FoundBySearch = map[invariants.Name]uint64{exp.Breaks[0]: uint64(100 + r.Searched)}
		}
		if c.Fault == "none" {
			r.Cost = &result.Cost{Events: 300, DBStatements: float64(4 + n%6), BrokerOps: 4, LatencyP50: float64(10 + n%40), LatencyP99: float64(30 + n%90)}
		}
		if len(exp.Breaks) > 0 {
			ce := *duplicateCE()
			ce.Invariant = exp.Breaks[0]
			ce.Scenario.Producer, ce.Scenario.Consumer, ce.Scenario.Workload, ce.Scenario.Fault = c.Producer, c.Consumer, c.Workload, c.Fault
			r.Counterexample = &ce
		}
		out = append(out, r)
	}
	return out
}

// searchedResults is the fixture with two cells searched past their first runs: one where the
// search found the duplicate the catalogue expects (with its counterexample), one where it did
// not.
func searchedResults() []result.CellResult {
	results := fixtureResults()
	results[5].Searched = 400 // outbox/inbox-racy under concurrent-consumers: still missing
	found := cellResult("outbox", "inbox-racy", "orders", "crash-consumer", 100, ordersCounts(0, 0, 0), []invariants.Name{"no-duplicate-effect"}, true,
		"the consumer dies between the payment and its inbox row; the redelivered copy finds no row and pays again")
	found.Searched, found.FoundBySearch = 36, map[invariants.Name]uint64{"no-duplicate-effect": 136}
	ce := *duplicateCE()
	ce.Seed = 136
	ce.Scenario.Producer, ce.Scenario.Consumer, ce.Scenario.Seed = "outbox", "inbox-racy", 136
	found.Counterexample = &ce
	return append(results[:6:6], append([]result.CellResult{found}, results[6:]...)...)
}

// site renders HTMLSite twice (the pages must not depend on map order) and returns its pages
// by path.
func site(t *testing.T, results []result.CellResult) (map[string]string, []string) {
	t.Helper()
	pages, err := HTMLSite(results)
	if err != nil {
		t.Fatal(err)
	}
	again, err := HTMLSite(results)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var paths []string
	for i, p := range pages {
		if _, dup := out[p.Path]; dup {
			t.Fatalf("two pages at %s", p.Path)
		}
		if i >= len(again) || again[i].Path != p.Path || !bytes.Equal(again[i].Body, p.Body) {
			t.Fatalf("HTMLSite is not deterministic at %s", p.Path)
		}
		out[p.Path] = string(p.Body)
		paths = append(paths, p.Path)
	}
	return out, paths
}

func TestHTMLSiteGolden(t *testing.T) {
	pages, paths := site(t, searchedResults())
	want := []string{
		"matrix.html",
		"counterexamples/double-write_naive_orders_crash-consumer.html",
		"counterexamples/double-write_naive_orders_partition-broker.html",
		"counterexamples/outbox_inbox-racy_orders_crash-consumer.html",
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("pages %v, want %v", paths, want)
	}
	for _, p := range paths {
		golden(t, "site/"+p, []byte(pages[p]))
	}
}

// TestHTMLSiteLinks: every page is self-contained and well-formed; every link goes to a page of
// the folder and to an element of it; every cell is on exactly one matrix page (matrix.html, or
// its workload's page when the matrix is split); each matrix cell with a counterexample links to
// its page, and each counterexample page back to that cell on the page that holds it.
func TestHTMLSiteLinks(t *testing.T) {
	for name, results := range map[string][]result.CellResult{
		"fixture":   searchedResults(),
		"simulated": simulated(t),
		"catalogue": catalogueResults(),
		"catalogue, some cells differing": func() []result.CellResult {
			results := catalogueResults()
			for i := 7; i < len(results); i += 401 {
				results[i].Matches = false
			}
			return results
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			pages, paths := site(t, results)
			ids := map[string]map[string]bool{}
			for _, p := range paths {
				ids[p] = idsOf(t, pages[p])
			}
			href := regexp.MustCompile(`href="([^"]*)"`)
			for _, p := range paths {
				page := pages[p]
				for _, bad := range []string{"http://", "https://", "src=", "<script", "<link", "@import", "url(", "<img", "<iframe", "<object"} {
					if strings.Contains(strings.ToLower(page), bad) {
						t.Errorf("%s contains %q", p, bad)
					}
				}
				for _, m := range href.FindAllStringSubmatch(page, -1) {
					file, frag, _ := strings.Cut(m[1], "#")
					target := p
					if file != "" {
						target = path.Join(path.Dir(p), file)
					}
					if ids[target] == nil {
						t.Errorf("%s: link %q goes to no page of the folder", p, m[1])
						continue
					}
					if frag != "" && !ids[target][frag] {
						t.Errorf("%s: link %q goes to no element of %s", p, m[1], target)
					}
				}
			}
			matrixPages := matrixPagesOf(paths)
			cells := matrixCells(pages, matrixPages)
			n := 0
			for _, r := range results {
				cell := fmt.Sprintf(`<td id="%s" `, cellID(r.Cell()))
				holder := cellPage(t, cells, r.Cell()).page
				if holder == "" {
					continue
				}
				if !r.Matches {
					link := "#" + cellID(r.Cell())
					if holder != "matrix.html" {
						link = holder + link
					}
					if !strings.Contains(pages["matrix.html"], `<strong><a href="`+link+`">`) {
						t.Errorf("the differing cells of matrix.html do not link %s to %s", r.Cell(), link)
					}
				}
				if r.Counterexample == nil {
					continue
				}
				n++
				cePath := "counterexamples/" + CounterexampleName(r.Cell()) + ".html"
				link := fmt.Sprintf(`%s#ce-%d`, cePath, n)
				matrix := pages[holder]
				i := strings.Index(matrix, cell)
				if !strings.Contains(matrix[i:i+strings.Index(matrix[i:], "</td>")], `href="`+link+`"`) {
					t.Errorf("the matrix cell of %s does not link to %s", r.Cell(), link)
				}
				if back := `href="../` + holder + `#` + cellID(r.Cell()) + `"`; !strings.Contains(pages[cePath], back) {
					t.Errorf("%s does not link back to its cell on %s", cePath, holder)
				}
			}
			if len(paths) != n+len(matrixPages) {
				t.Errorf("%d pages for %d counterexamples and %d matrix pages, want one each", len(paths), n, len(matrixPages))
			}
		})
	}
}

// matrixPagesOf are the pages of a folder that hold the matrix or a part of it: matrix.html
// first, then the workloads' pages (matrix-<workload>.html) when it is split.
func matrixPagesOf(paths []string) []string {
	var out []string
	for _, p := range paths {
		if !strings.Contains(p, "/") && strings.HasPrefix(p, "matrix") && strings.HasSuffix(p, ".html") {
			out = append(out, p)
		}
	}
	return out
}

// matrixCell is a cell of a matrix page: the page and the cell's title, unescaped.
type matrixCell struct{ page, title string }

// matrixCells are the cells of the matrix pages by id ("cell-..."), each with every page and
// title it has (a cell must have one).
func matrixCells(pages map[string]string, matrixPages []string) map[string][]matrixCell {
	td := regexp.MustCompile(`<td id="(cell-[^"]*)" class="[^"]*" title="([^"]*)"`)
	out := map[string][]matrixCell{}
	for _, p := range matrixPages {
		for _, m := range td.FindAllStringSubmatch(pages[p], -1) {
			out[m[1]] = append(out[m[1]], matrixCell{page: p, title: html.UnescapeString(m[2])})
		}
	}
	return out
}

// cellPage is the matrix page that holds a cell; a cell on no page or twice is an error, and
// the zero matrixCell is returned.
func cellPage(t *testing.T, cells map[string][]matrixCell, c result.Cell) matrixCell {
	t.Helper()
	if on := cells[cellID(c)]; len(on) != 1 {
		t.Errorf("%s is on %v, want exactly one matrix page, once", c, on)
		return matrixCell{}
	}
	return cells[cellID(c)][0]
}

// TestHTMLSiteMatrixStaysLight: the whole catalogue's matrix holds no counterexample, and each
// of its pages (matrix.html, and a page per workload when it is split) stays under 2 MB and
// under 900 bytes per cell it holds; every cell is on exactly one page; each counterexample page
// holds its one diagram and stays small.
func TestHTMLSiteMatrixStaysLight(t *testing.T) {
	results := catalogueResults()
	pages, paths := site(t, results)
	matrixPages := matrixPagesOf(paths)
	if matrixPages[0] != "matrix.html" {
		t.Fatalf("the first matrix page is %s, want matrix.html", matrixPages[0])
	}
	if len(matrixPages) == 1 {
		t.Errorf("the whole catalogue's matrix is on one page, want a page per workload")
	}
	const maxMatrix, maxPerCell = 2 << 20, 900
	onPage := map[string]int{}
	cells := matrixCells(pages, matrixPages)
	note := regexp.MustCompile(`<li id="note-(\d+)" value="\d+">(.*)\.</li>`)
	notes := map[string][][]string{}
	for _, p := range matrixPages {
		notes[p] = note.FindAllStringSubmatch(pages[p], -1)
	}
	for _, r := range results {
		c := cellPage(t, cells, r.Cell())
		if c.page == "" {
			continue
		}
		onPage[c.page]++
		// A title names the notes under the table in place of their text: put back, it is the
		// whole title.
		got := c.title
		for _, m := range notes[c.page] {
			n, _ := strconv.Atoi(m[1])
			part := html.UnescapeString(m[2])
			got = strings.ReplaceAll(got, noteRef(part, n), part)
		}
		if want := cellDetail(r); got != want {
			t.Errorf("%s: the title on %s, its notes put back, is\n%s\nwant\n%s", r.Cell(), c.page, got, want)
		}
	}
	total := 0
	for _, p := range matrixPages {
		page := pages[p]
		for _, heavy := range []string{`<svg class="sequence"`, `<article`, `<ol class="events"`} {
			if strings.Contains(page, heavy) {
				t.Errorf("%s holds %s", p, heavy)
			}
		}
		cells := onPage[p]
		total += cells
		per := len(page)
		if cells > 0 {
			per = len(page) / cells
		}
		if len(page) > maxMatrix || (cells > 0 && len(page) > maxPerCell*cells) || (cells == 0 && len(page) > maxPerCell*len(results)/10) {
			t.Errorf("%s of %d cells is %d bytes (%d a cell), want at most %d and %d a cell",
				p, cells, len(page), per, maxMatrix, maxPerCell)
		}
		t.Logf("%s: %d cells, %d bytes, %d a cell", p, cells, len(page), per)
	}
	if total != len(results) {
		t.Errorf("the matrix pages hold %d cells, want the catalogue's %d", total, len(results))
	}
	t.Logf("%d counterexample pages", len(paths)-len(matrixPages))
	for _, p := range paths[len(matrixPages):] {
		if n := strings.Count(pages[p], `<svg class="sequence"`); n != 1 {
			t.Errorf("%s has %d sequence diagrams, want 1", p, n)
		}
		if len(pages[p]) > 32<<10 {
			t.Errorf("%s is %d bytes, want at most 32 KiB for a 20-event history", p, len(pages[p]))
		}
		if strings.Contains(pages[p], `class="matrix"`) {
			t.Errorf("%s holds a matrix", p)
		}
	}
}

// TestHTMLSearchNote: what the search past the first runs drew and found, in the words of the
// text and Markdown reports; in the cell's title, the differing cells and the counterexample's
// header.
func TestHTMLSearchNote(t *testing.T) {
	dup := []invariants.Name{invariants.NoDuplicateEffect}
	cases := []struct {
		name     string
		runs     int
		searched int
		found    map[invariants.Name]uint64
		expected []invariants.Name
		counts   map[invariants.Name]int
		want     string
	}{
		{"no search", 100, 0, nil, dup, map[invariants.Name]int{invariants.NoDuplicateEffect: 3}, ""},
		{"found", 4, 36, map[invariants.Name]uint64{invariants.NoDuplicateEffect: 41}, dup, map[invariants.Name]int{invariants.NoDuplicateEffect: 0},
			"4 runs; the search drew 36 more seeds: seed 41 broke no-duplicate-effect."},
		{"not found", 100, 400, nil, dup, map[invariants.Name]int{invariants.NoDuplicateEffect: 0},
			"100 runs; the search drew 400 more seeds: no seed broke no-duplicate-effect."},
		{"one seed, two breaks", 1, 1, map[invariants.Name]uint64{invariants.NoDuplicateEffect: 2, invariants.NoLostEffect: 2}, []invariants.Name{invariants.NoDuplicateEffect, invariants.NoLostEffect}, map[invariants.Name]int{invariants.NoDuplicateEffect: 0, invariants.NoLostEffect: 0},
			"1 run; the search drew 1 more seed: seed 2 broke no-duplicate-effect and no-lost-effect."},
		{"found one, missed one", 20, 80, map[invariants.Name]uint64{invariants.NoLostEffect: 57}, []invariants.Name{invariants.NoDuplicateEffect, invariants.NoLostEffect}, map[invariants.Name]int{invariants.NoDuplicateEffect: 0, invariants.NoLostEffect: 0},
			"20 runs; the search drew 80 more seeds: seed 57 broke no-lost-effect, no seed broke no-duplicate-effect."},
		{"two seeds", 10, 50, map[invariants.Name]uint64{invariants.NoDuplicateEffect: 44, invariants.NoLostEffect: 12}, []invariants.Name{invariants.NoDuplicateEffect, invariants.NoLostEffect}, map[invariants.Name]int{invariants.NoDuplicateEffect: 0, invariants.NoLostEffect: 0},
			"10 runs; the search drew 50 more seeds: seed 12 broke no-lost-effect, seed 44 broke no-duplicate-effect."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := result.CellResult{Runs: c.runs, Searched: c.searched, FoundBySearch: c.found, Expected: c.expected, Violations: c.counts}
			if got := htmlSearchNote(r); got != c.want {
				t.Errorf("got  %q\nwant %q", got, c.want)
			}
		})
	}

	pages, _ := site(t, searchedResults())
	for _, want := range []string{
		"Not found in 100 runs: no-duplicate-effect (more seeds may find it).\n100 runs; the search drew 400 more seeds: no seed broke no-duplicate-effect.\nReason:",
		"Observed: no-duplicate-effect (0/100 runs).\n100 runs; the search drew 36 more seeds: seed 136 broke no-duplicate-effect.\nReason:",
	} {
		if !strings.Contains(pages["matrix.html"], want) {
			t.Errorf("no matrix cell's title says\n%s", want)
		}
	}
	if want := "(more seeds may find it). 100 runs; the search drew 400 more seeds: no seed broke no-duplicate-effect. Reason:"; !strings.Contains(pages["matrix.html"], want) {
		t.Errorf("the differing cells do not say\n%s", want)
	}
	ce := pages["counterexamples/outbox_inbox-racy_orders_crash-consumer.html"]
	if want := `<p class="search">100 runs; the search drew 36 more seeds: seed 136 broke no-duplicate-effect.</p>`; !strings.Contains(ce, want) {
		t.Errorf("the counterexample page's header lacks\n%s", want)
	}
}
