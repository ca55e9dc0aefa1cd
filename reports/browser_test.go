package reports

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/deliveryharness/harness/scenarios/result"
)

// chromiumPath is Debian's Chromium. Without it the browser test skips, or fails under
// HARNESS_REQUIRE_BROWSER=1 (CI installs it with .ci/browser).
const chromiumPath = "/usr/bin/chromium"

// browserDeadline bounds everything one page takes in the browser: start, load, checks, screenshot.
const browserDeadline = 90 * time.Second

// browserWidth is the window the pages must be readable in: a laptop's 1280 pixels.
const browserWidth, browserHeight = 1280, 900

// TestBrowserRendersReport opens the HTML reports in headless Chromium, 1280 pixels wide: the
// single page (HTML) of the fixture and of a simulation, and the folder (HTMLSite) of a synthetic
// whole catalogue and of a simulation. Every page must load with no console message, no
// JavaScript exception and no request outside the report's own files; no SVG text may stick out
// of its SVG or overlap another text; the page may not be wider than the window. Each matrix
// table must fit its column or scroll within it, with no cell's content clipped, the last fault
// column reachable and the row labels staying in view. In a folder, a matrix split by workload
// (the whole catalogue's) has an overview with no table and a page per workload, each opened; a
// matrix cell's link is followed to its counterexample page, and that page's link back to the
// cell on the page it came from; each target must exist. A full-page screenshot of each page goes to $HARNESS_ARTIFACTS (default: artifacts/ at
// the repository root).
func TestBrowserRendersReport(t *testing.T) {
	chromium := requireChromium(t)
	artifacts := artifactsDir(t)
	shoot := func(t *testing.T, name string, png []byte) {
		t.Helper()
		out := filepath.Join(artifacts, name+".png")
		if err := os.WriteFile(out, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", out)
	}
	for _, p := range []struct {
		name    string
		results func(*testing.T) []result.CellResult
	}{
		{"report", func(*testing.T) []result.CellResult { return fixtureResults() }},
		{"report-simulated", simulated},
	} {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, p.name+".html")
			if err := os.WriteFile(file, renderHTML(t, p.results(t)), 0o644); err != nil {
				t.Fatal(err)
			}
			b := newBrowser(t, chromium, dir)
			got := b.open(fileURL(file))
			checkPage(t, got, pageWant{matrix: true, charts: true, sequences: true})
			shoot(t, p.name, b.screenshot())
			b.close()
		})
	}
	for _, p := range []struct {
		name    string
		results func(*testing.T) []result.CellResult
	}{
		{"site", func(*testing.T) []result.CellResult { return catalogueResults() }},
		{"site-simulated", simulated},
	} {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			pages, err := HTMLSite(p.results(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, pg := range pages {
				path := filepath.Join(dir, filepath.FromSlash(pg.Path))
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, pg.Body, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			b := newBrowser(t, chromium, dir)
			defer b.close()
			matrixPage := "matrix.html"
			matrix := b.open(fileURL(filepath.Join(dir, matrixPage)))
			// A matrix too heavy for one page is split: matrix.html is an overview that links to
			// a page per workload, each with its table and charts.
			var parts []string
			b.run(chromedp.Evaluate(`[...document.querySelectorAll('ul.parts a[href]')].map(a => a.getAttribute('href'))`, &parts))
			if len(parts) > 0 {
				checkPage(t, matrix, pageWant{})
				shoot(t, p.name+"-overview", b.screenshot())
				for i, part := range parts {
					got := b.open(fileURL(filepath.Join(dir, filepath.FromSlash(part))))
					checkPage(t, got, pageWant{matrix: true, charts: true})
					if i == 0 {
						shoot(t, p.name+"-matrix", b.screenshot())
					}
				}
				matrixPage = parts[0]
				b.open(fileURL(filepath.Join(dir, filepath.FromSlash(matrixPage))))
			} else {
				checkPage(t, matrix, pageWant{matrix: true, charts: true})
				shoot(t, p.name+"-matrix", b.screenshot())
			}

			// Follow the first counterexample link of the matrix, then the way back.
			var ceURL string
			b.run(chromedp.Evaluate(`document.querySelector('table.matrix td a[href]').href`, &ceURL))
			if !strings.Contains(ceURL, "/counterexamples/") || !strings.Contains(ceURL, "#ce-") {
				t.Fatalf("the first matrix link goes to %s, want a counterexample page", ceURL)
			}
			ce := b.open(ceURL)
			checkPage(t, ce, pageWant{sequences: true})
			if !ce.Target {
				t.Errorf("%s: the link's target is not on the page", ceURL)
			}
			shoot(t, p.name+"-counterexample", b.screenshot())
			var backURL string
			b.run(chromedp.Evaluate(`document.querySelector('nav a[href]').href`, &backURL))
			if !strings.Contains(backURL, "/"+matrixPage+"#cell-") {
				t.Fatalf("the counterexample page's first link goes to %s, want its matrix cell", backURL)
			}
			back := b.open(backURL)
			if !back.Target {
				t.Errorf("%s: the link's target is not on the page", backURL)
			}
			var links bool
			b.run(chromedp.Evaluate(`!!document.querySelector(':target a[href]') && document.querySelector(':target a[href]').href === `+jsString(ceURL), &links))
			if !links {
				t.Errorf("the matrix cell %s does not link to %s", backURL, ceURL)
			}
		})
	}
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func fileURL(path string) string { return (&url.URL{Scheme: "file", Path: path}).String() }

func requireChromium(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err == nil {
		return chromiumPath
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	msg := "no Chromium at " + chromiumPath + ": install Debian's chromium (.ci/browser does) to run the browser test"
	if os.Getenv("HARNESS_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (HARNESS_REQUIRE_BROWSER=1)")
	}
	t.Skip(msg)
	return ""
}

// artifactsDir is $HARNESS_ARTIFACTS, or artifacts/ at the repository root, created.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("HARNESS_ARTIFACTS")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// moduleRoot is the nearest directory above the working directory holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("reports: no go.mod above the working directory")
		}
		dir = parent
	}
}

// userDataDir is a fresh profile directory for one browser. Chromium's helper processes may
// still write to it for a moment after the browser exits, so it is removed with retries
// before the test's own cleanup checks it.
func userDataDir(t *testing.T) string {
	dir := t.TempDir()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for os.RemoveAll(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	return dir
}

// browserReport is what the page's own measurements say.
type browserReport struct {
	Matrix    []float64     `json:"matrix"`    // width, height of the first matrix table
	Sequences int           `json:"sequences"` // sequence diagrams with a non-zero size
	Charts    int           `json:"charts"`    // charts with a non-zero size
	Overflow  float64       `json:"overflow"`  // how much wider than the window the page is
	Problems  []string      `json:"problems"`  // texts clipped by their SVG or overlapping
	Tables    []tableReport `json:"tables"`
	Target    bool          `json:"target"` // the URL's fragment names an element of the page
}

// tableReport is how a matrix table sits in its scrolling wrapper.
type tableReport struct {
	ID      string   `json:"id"`
	Width   float64  `json:"width"`   // the table's
	Room    float64  `json:"room"`    // the wrapper's inner width
	Scrolls bool     `json:"scrolls"` // the wrapper scrolls sideways
	Clipped []string `json:"clipped"` // cells whose content is wider than the cell
	// Scrolled to its end, the wrapper shows every row's last cell whole (LastShown) and the
	// row labels at its left edge (LabelsStay).
	LastShown  bool `json:"lastShown"`
	LabelsStay bool `json:"labelsStay"`
}

// measure runs in the page: sizes of the matrix and the SVGs, texts outside their SVG's view
// box, texts of one SVG that overlap each other, how each matrix table fits, and whether the
// URL's fragment has its element.
const measure = `(() => {
  const visible = e => { const b = e.getBoundingClientRect(); const s = getComputedStyle(e);
    return b.width > 0 && b.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'; };
  const m = document.querySelector('table.matrix');
  const problems = [];
  const name = t => (t.closest('svg').getAttribute('aria-label') || '').slice(0, 60) + ': ' + JSON.stringify(t.textContent);
  for (const svg of document.querySelectorAll('svg')) {
    const vb = svg.viewBox.baseVal;
    for (const t of svg.querySelectorAll('text')) {
      const b = t.getBBox();
      if (b.x < vb.x - 0.5 || b.y < vb.y - 0.5 || b.x + b.width > vb.x + vb.width + 0.5 || b.y + b.height > vb.y + vb.height + 0.5)
        problems.push('clipped ' + name(t));
    }
    const ts = [...svg.querySelectorAll('text')].map(t => [t, t.getBBox()]);
    for (let i = 0; i < ts.length; i++) for (let j = i + 1; j < ts.length; j++) {
      const [ta, a] = ts[i], [tb, b] = ts[j];
      if (a.x < b.x + b.width - 1 && b.x < a.x + a.width - 1 && a.y < b.y + b.height - 1 && b.y < a.y + a.height - 1)
        problems.push('overlap ' + name(ta) + ' and ' + JSON.stringify(tb.textContent));
    }
  }
  const tables = [...document.querySelectorAll('table.matrix')].map(t => {
    const wrap = t.parentElement, w = wrap.getBoundingClientRect();
    const clipped = [...t.querySelectorAll('th, td')].filter(c => c.scrollWidth > c.clientWidth + 1)
      .map(c => c.id || c.textContent.trim()).slice(0, 5);
    const width = t.getBoundingClientRect().width;
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(wrap).overflowX);
    wrap.scrollLeft = wrap.scrollWidth;
    const lastShown = [...t.rows].every(r => { const b = r.cells[r.cells.length - 1].getBoundingClientRect();
      return b.left >= w.left - 0.5 && b.right <= w.right + 0.5; });
    const labelsStay = [...t.querySelectorAll('th.pair')].every(th => Math.abs(th.getBoundingClientRect().left - w.left) <= 1);
    wrap.scrollLeft = 0;
    return {id: t.id, width, room: wrap.clientWidth, scrolls, clipped, lastShown, labelsStay};
  });
  const hash = decodeURIComponent(location.hash.slice(1));
  return {
    matrix: m && visible(m) ? [m.getBoundingClientRect().width, m.getBoundingClientRect().height] : [],
    sequences: [...document.querySelectorAll('svg.sequence')].filter(visible).length,
    charts: [...document.querySelectorAll('svg.chart')].filter(visible).length,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    problems,
    tables,
    target: hash !== '' && document.getElementById(hash) !== null,
  };
})()`

// pageWant says what a page must show.
type pageWant struct{ matrix, charts, sequences bool }

// checkPage reports what a page's measurements say is wrong with it.
func checkPage(t *testing.T, got browserReport, want pageWant) {
	t.Helper()
	if want.matrix && (len(got.Matrix) != 2 || got.Matrix[0] <= 0 || got.Matrix[1] <= 0) {
		t.Errorf("the matrix table is not visible: size %v", got.Matrix)
	}
	if !want.matrix && len(got.Tables) > 0 {
		t.Errorf("%d matrix tables, want none", len(got.Tables))
	}
	if want.sequences != (got.Sequences > 0) {
		t.Errorf("%d sequence diagrams visible, want some: %v", got.Sequences, want.sequences)
	}
	if want.charts != (got.Charts > 0) {
		t.Errorf("%d charts visible, want some: %v", got.Charts, want.charts)
	}
	if got.Overflow > 0 {
		t.Errorf("the page is %vpx wider than the %dpx window", got.Overflow, browserWidth)
	}
	for _, p := range got.Problems {
		t.Error(p)
	}
	for _, tb := range got.Tables {
		fits := tb.Width <= tb.Room+0.5
		switch {
		case !fits && !tb.Scrolls:
			t.Errorf("table %s is %.0fpx wide in %.0fpx and does not scroll", tb.ID, tb.Width, tb.Room)
		case len(tb.Clipped) > 0:
			t.Errorf("table %s: cells clipped: %v", tb.ID, tb.Clipped)
		case !tb.LastShown:
			t.Errorf("table %s (%.0fpx in %.0fpx): scrolled to the end, the last column is not in view", tb.ID, tb.Width, tb.Room)
		case !tb.LabelsStay:
			t.Errorf("table %s (%.0fpx in %.0fpx): scrolled to the end, the row labels leave the view", tb.ID, tb.Width, tb.Room)
		}
		t.Logf("table %s: %.0fpx in %.0fpx at a %dpx window (fits: %v)", tb.ID, tb.Width, tb.Room, browserWidth, fits)
	}
}

// browser is one headless Chromium whose pages may read only the files under dir.
type browser struct {
	t      *testing.T
	ctx    context.Context
	cancel func()

	mu         sync.Mutex
	complaints []string
}

func newBrowser(t *testing.T, chromium, dir string) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("disable-crash-reporter", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.UserDataDir(userDataDir(t)),
		chromedp.WindowSize(browserWidth, browserHeight),
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserDeadline)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: bctx, cancel: func() { cancelBrowser(); cancelAlloc(); cancel() }}
	inside := fileURL(dir) + "/"
	chromedp.ListenTarget(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			b.complain("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			b.complain("exception: %s", ev.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			b.complain("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		case *network.EventRequestWillBeSent:
			// Only the report's own pages, opened by the test or by following their links.
			if u := ev.Request.URL; !strings.HasPrefix(u, inside) && !strings.HasPrefix(u, "data:") {
				b.complain("request outside the report: %s", u)
			}
		}
	})
	return b
}

func (b *browser) complain(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.complaints = append(b.complaints, fmt.Sprintf(format, args...))
}

// run runs actions in the browser, failing the test on an error.
func (b *browser) run(actions ...chromedp.Action) {
	b.t.Helper()
	if err := chromedp.Run(b.ctx, actions...); err != nil {
		b.t.Fatalf("chromium: %v", err)
	}
}

// open loads a page and measures it.
func (b *browser) open(pageURL string) browserReport {
	b.t.Helper()
	var got browserReport
	b.run(chromedp.Navigate(pageURL), chromedp.WaitReady("body", chromedp.ByQuery), chromedp.Evaluate(measure, &got))
	return got
}

// screenshot is a PNG of the whole page.
func (b *browser) screenshot() []byte {
	b.t.Helper()
	var png []byte
	b.run(chromedp.FullScreenshot(&png, 100))
	if len(png) == 0 {
		b.t.Fatal("empty screenshot")
	}
	return png
}

// close closes the browser gracefully, waits for it, and reports every complaint heard.
func (b *browser) close() {
	b.t.Helper()
	if b.cancel == nil {
		return
	}
	if err := chromedp.Cancel(b.ctx); err != nil {
		b.t.Errorf("closing chromium: %v", err)
	}
	b.cancel()
	b.cancel = nil
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, c := range b.complaints {
		b.t.Error(c)
	}
}
