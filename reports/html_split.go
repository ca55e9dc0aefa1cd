package reports

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/deliveryharness/harness/scenarios/result"
)

// htmlMatrixBudget is the size past which a report folder's matrix page is split by workload:
// a page of a few megabytes of table cells is slow to open and to scroll. The whole catalogue
// (some 6,000 cells, five workloads) weighs about 5 MB on one page; split, each workload's page
// weighs about 1 MB.
const htmlMatrixBudget = 1 << 20

// htmlPart is the overview's link to a workload's page of a split matrix.
type htmlPart struct {
	Href, Name, Text string
}

// htmlWorkloadPath is the page of a workload's matrix when the matrix is split:
// "matrix-orders.html".
func htmlWorkloadPath(workload string) string {
	return "matrix-" + strings.ReplaceAll(workload, "/", "_") + ".html"
}

// htmlSplitMatrix renders the matrix of a report folder as an overview and a page per workload,
// and points links (through links.workloads) at the page that holds each cell. matrix.html keeps
// the summary, the legend, the cells that differ from the catalogue (each linking to its cell on
// its workload's page) and a link to each workload's page; matrix-<workload>.html holds that
// workload's table and charts, the legend, and a link back. It reports false, changing nothing,
// when the results have a single workload: there is nothing to split.
func htmlSplitMatrix(results []result.CellResult, links *htmlLinkSet) ([]Page, bool, error) {
	blocks := matrixBlocks(results)
	if len(blocks) < 2 {
		return nil, false, nil
	}
	links.workloads = map[string]string{}
	for _, bl := range blocks {
		links.workloads[bl.workload] = htmlWorkloadPath(bl.workload)
	}
	overview := newHTMLPage(results, *links)
	overview.Workloads = nil
	var parts []Page
	var b bytes.Buffer
	for _, bl := range blocks {
		var mine []result.CellResult
		for _, r := range results {
			if r.Workload == bl.workload {
				mine = append(mine, r)
			}
		}
		href := links.workloads[bl.workload]
		overview.Parts = append(overview.Parts, htmlPart{Href: href, Name: bl.workload, Text: summarize(mine).String()})
		p := newHTMLPage(mine, *links)
		p.Heading = "Delivery matrix: workload " + bl.workload
		p.Title = p.Heading
		if s := runsSummary(mine); s != "" {
			p.Title += ": " + s
		}
		p.Overview = htmlMatrixPath
		p.Differing = nil
		shareReasons(&p)
		b.Reset()
		if err := htmlTemplate.ExecuteTemplate(&b, "matrix", p); err != nil {
			return nil, false, fmt.Errorf("reports: html %s: %w", href, err)
		}
		parts = append(parts, Page{Path: href, Body: bytes.Clone(b.Bytes())})
	}
	b.Reset()
	if err := htmlTemplate.ExecuteTemplate(&b, "matrix", overview); err != nil {
		return nil, false, fmt.Errorf("reports: html: %w", err)
	}
	return append([]Page{{Path: htmlMatrixPath, Body: bytes.Clone(b.Bytes())}}, parts...), true, nil
}

// htmlNote is a part of the cells' reasons that many cells of a page share, written once under
// the table; the cells' titles name it by its number.
type htmlNote struct {
	ID   string // note-1, note-2, ...
	N    int
	Text string // the part as the reasons have it, without a final full stop
}

// Shared reasons: a part of a reason (the reasons' parts are separated by "; ") at least
// noteMinLen bytes long that noteMinCells cells of a page repeat becomes a note.
const noteMinLen, noteMinCells = 80, 3

const reasonPrefix = "Reason: "

// reasonParts are the parts of the reason line of a cell's title (cellDetail), without the
// final full stop, and the line's index; -1 when the title has no reason.
func reasonParts(lines []string) ([]string, int) {
	for i, l := range lines {
		if strings.HasPrefix(l, reasonPrefix) {
			return strings.Split(strings.TrimSuffix(strings.TrimPrefix(l, reasonPrefix), "."), "; "), i
		}
	}
	return nil, -1
}

// noteRef is what a title says in place of a shared part: the part's head when it has a short
// one ("same-output holds: see note 2 under the table"), else "see note 2 under the table".
func noteRef(part string, n int) string {
	ref := fmt.Sprintf("see note %d under the table", n)
	if head, _, ok := strings.Cut(part, ": "); ok && len(head) <= 40 {
		return head + ": " + ref
	}
	return ref
}

// shareReasons writes the parts of the reasons that many cells of a page repeat once, as the
// page's notes, and shortens those cells' titles to name the note instead. The catalogue's
// reasons for the chain workload repeat long explanations of the invariants that hold (the same
// few hundred bytes in hundreds of cells); a title stays readable on hover and the page
// stays light.
func shareReasons(p *htmlPage) {
	count := map[string]int{}
	var order []string
	each := func(f func(c *htmlCell)) {
		for w := range p.Workloads {
			for r := range p.Workloads[w].Rows {
				for c := range p.Workloads[w].Rows[r].Cells {
					f(&p.Workloads[w].Rows[r].Cells[c])
				}
			}
		}
	}
	each(func(c *htmlCell) {
		parts, _ := reasonParts(strings.Split(c.Detail, "\n"))
		seen := map[string]bool{}
		for _, part := range parts {
			if len(part) < noteMinLen || seen[part] {
				continue
			}
			seen[part] = true
			if count[part] == 0 {
				order = append(order, part)
			}
			count[part]++
		}
	})
	number := map[string]int{}
	for _, part := range order {
		if count[part] >= noteMinCells {
			number[part] = len(p.Notes) + 1
			p.Notes = append(p.Notes, htmlNote{ID: fmt.Sprintf("note-%d", len(p.Notes)+1), N: len(p.Notes) + 1, Text: part})
		}
	}
	if len(p.Notes) == 0 {
		return
	}
	each(func(c *htmlCell) {
		lines := strings.Split(c.Detail, "\n")
		parts, i := reasonParts(lines)
		changed := false
		for k, part := range parts {
			if n := number[part]; n > 0 {
				parts[k] = noteRef(part, n)
				changed = true
			}
		}
		if changed {
			lines[i] = reasonPrefix + strings.Join(parts, "; ") + "."
			c.Detail = strings.Join(lines, "\n")
		}
	})
}
