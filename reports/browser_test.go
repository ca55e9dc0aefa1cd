package reports

import (
	"context"
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

	"github.com/deliveryharness/harness/scenarios"
)

// chromiumPath is Debian's Chromium. Without it the browser test skips, or fails under
// HARNESS_REQUIRE_BROWSER=1 (CI installs it with .ci/browser).
const chromiumPath = "/usr/bin/chromium"

// browserDeadline bounds everything one page takes in the browser: start, load, checks, screenshot.
const browserDeadline = 90 * time.Second

// TestBrowserRendersReport opens the HTML report in headless Chromium: the page must load with
// no console message, no JavaScript exception and no request outside its own file; the matrix
// and the sequence diagrams must be visible; no SVG text may stick out of its SVG or overlap
// another text; the page may not be wider than the window. A full-page screenshot
// of each page goes to $HARNESS_ARTIFACTS (default: artifacts/ at the repository root).
func TestBrowserRendersReport(t *testing.T) {
	chromium := requireChromium(t)
	artifacts := artifactsDir(t)
	pages := []struct {
		name    string
		results func(*testing.T) []scenarios.CellResult
	}{
		{"report", func(*testing.T) []scenarios.CellResult { return fixtureResults() }},
		{"report-simulated", simulated},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), p.name+".html")
			if err := os.WriteFile(file, renderHTML(t, p.results(t)), 0o644); err != nil {
				t.Fatal(err)
			}
			png := openInBrowser(t, chromium, file)
			out := filepath.Join(artifacts, p.name+".png")
			if err := os.WriteFile(out, png, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("screenshot: %s", out)
		})
	}
}

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
	Matrix    []float64 `json:"matrix"`    // width, height of the first matrix table
	Sequences int       `json:"sequences"` // sequence diagrams with a non-zero size
	Charts    int       `json:"charts"`    // charts with a non-zero size
	Overflow  float64   `json:"overflow"`  // how much wider than the window the page is
	Problems  []string  `json:"problems"`  // texts clipped by their SVG or overlapping
}

// measure runs in the page: sizes of the matrix and the SVGs, texts outside their SVG's view
// box, texts of one SVG that overlap each other.
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
  return {
    matrix: m && visible(m) ? [m.getBoundingClientRect().width, m.getBoundingClientRect().height] : [],
    sequences: [...document.querySelectorAll('svg.sequence')].filter(visible).length,
    charts: [...document.querySelectorAll('svg.chart')].filter(visible).length,
    overflow: document.documentElement.scrollWidth - window.innerWidth,
    problems,
  };
})()`

// openInBrowser loads file in a fresh headless Chromium, checks it and returns a full-page PNG.
func openInBrowser(t *testing.T, chromium, file string) []byte {
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
		chromedp.WindowSize(1600, 1000),
	}
	ctx, cancel := context.WithTimeout(context.Background(), browserDeadline)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	pageURL := (&url.URL{Scheme: "file", Path: file}).String()
	var mu sync.Mutex
	var complaints []string
	complain := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		complaints = append(complaints, fmt.Sprintf(format, args...))
	}
	chromedp.ListenTarget(bctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			var args []string
			for _, a := range ev.Args {
				args = append(args, string(a.Value)+a.Description)
			}
			complain("console.%s: %s", ev.Type, strings.Join(args, " "))
		case *runtime.EventExceptionThrown:
			complain("exception: %s", ev.ExceptionDetails.Error())
		case *log.EventEntryAdded:
			complain("log %s (%s): %s %s", ev.Entry.Level, ev.Entry.Source, ev.Entry.Text, ev.Entry.URL)
		case *network.EventRequestWillBeSent:
			if u := ev.Request.URL; u != pageURL && !strings.HasPrefix(u, "data:") {
				complain("request outside the page: %s", u)
			}
		}
	})

	var got browserReport
	var png []byte
	err := chromedp.Run(bctx,
		chromedp.Navigate(pageURL),
		chromedp.WaitVisible("table.matrix", chromedp.ByQuery),
		chromedp.Evaluate(measure, &got),
		chromedp.FullScreenshot(&png, 100),
	)
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	if err := chromedp.Cancel(bctx); err != nil { // close the browser gracefully and wait for it
		t.Errorf("closing chromium: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, c := range complaints {
		t.Error(c)
	}
	if len(got.Matrix) != 2 || got.Matrix[0] <= 0 || got.Matrix[1] <= 0 {
		t.Errorf("the matrix table is not visible: size %v", got.Matrix)
	}
	if got.Sequences == 0 {
		t.Errorf("no sequence diagram is visible")
	}
	if got.Charts == 0 {
		t.Errorf("no chart is visible")
	}
	if got.Overflow > 0 {
		t.Errorf("the page is %vpx wider than the window", got.Overflow)
	}
	for _, p := range got.Problems {
		t.Error(p)
	}
	if len(png) == 0 {
		t.Fatal("empty screenshot")
	}
	return png
}
