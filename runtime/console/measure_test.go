package console_test

// Measurements of the console's cost, run on demand (they take about two
// minutes and load the machine):
//
//	CONSOLE_MEASURE=1 go test ./runtime/console -run Measure -v
//
// They serve the blueprints with the real binary in its own process, so
// the server's CPU time is read from /proc apart from the browser's.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// serveBinary builds avtomatika and serves dir on a free port.
func serveBinary(t *testing.T, dir string) (url string, pid int) {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "avtomatika")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/avtomatika").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "serve", "--blueprints", dir)
	cmd.Env = append(os.Environ(), "API_HOST=127.0.0.1", "API_PORT="+strconv.Itoa(port), "LOG_LEVEL=warn")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	url = fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		if resp, err := http.Get(url + "/_public/status"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 100 {
			t.Fatal("the server did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return url, cmd.Process.Pid
}

// cpuTicks is the process's user+system time in clock ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return u + s
}

const clkTck = 100 // USER_HZ on Linux

func TestMeasureConsole(t *testing.T) {
	if os.Getenv("CONSOLE_MEASURE") == "" {
		t.Skip("set CONSOLE_MEASURE=1 to measure the console (about two minutes)")
	}
	dir := t.TempDir()
	for name, src := range map[string]string{"orphan.yaml": orphanYAML, "review.yaml": reviewYAML} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	url, pid := serveBinary(t, dir)
	for range 20 {
		createJob(t, url, "", "orphan", `{}`)
	}

	// First load of each page: bytes of the document and what it loads.
	tab(t) // starts the browser
	newTab := func() (context.Context, context.CancelFunc) {
		c, cancel := chromedp.NewContext(browserCtx)
		if err := chromedp.Do(c); err != nil { // opens the tab, with no timeout
			t.Fatal(err)
		}
		c, cancelT := context.WithTimeout(c, 5*time.Minute)
		return c, func() { cancelT(); cancel() }
	}
	for _, page := range []string{"#/blueprints", "#/blueprints/review", "#/jobs", "#/workers", "#/blueprints/review/start"} {
		pctx, cancel := newTab()
		run(t, pctx, "load "+page, chromedp.Navigate(url+"/"+page), chromedp.WaitVisible(css(`main h1`)), chromedp.Sleep(500*time.Millisecond))
		js := `(() => { const e = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
			const all = e.reduce((s, x) => s + x.transferSize, 0);
			const svg = e.filter(x => x.name.includes('/console/api/graph/')).reduce((s, x) => s + x.transferSize, 0);
			return all + ' ' + svg + ' ' + e.length; })()`
		var all, svg, n int
		fmt.Sscan(text(t, pctx, js), &all, &svg, &n)
		t.Logf("first load %-28s %6.1f KB transferred in %d requests (graph SVG %.1f KB of it)", page, float64(all)/1024, n, float64(svg)/1024)
		if all-svg > 300*1024 {
			t.Errorf("first load of %s: %d bytes besides the graph; want at most 300 KB", page, all-svg)
		}
		cancel()
	}

	// Ten consoles left open on the job list, nothing happening.
	var tabs []context.CancelFunc
	for i := range 10 {
		c, cancel := newTab()
		tabs = append(tabs, cancel)
		run(t, c, fmt.Sprintf("console %d", i), chromedp.Navigate(url+"/#/jobs"), chromedp.WaitVisible(css(`tr[data-job]`)))
	}
	time.Sleep(5 * time.Second)
	const idle = 60 * time.Second
	before := cpuTicks(t, pid)
	time.Sleep(idle)
	used := cpuTicks(t, pid) - before
	pct := float64(used) / clkTck / idle.Seconds() * 100
	t.Logf("10 idle consoles on the job list: server CPU %.2f%% of a core over %v (%d ticks)", pct, idle, used)
	if pct > 2 {
		t.Errorf("idle consoles cost %.2f%% of a core; want at most 2%%", pct)
	}
	for _, c := range tabs[1:] { // the first closes below
		c()
	}

	// Jobs at 1,000/s: how long after its creation a job shows in the
	// live list. The page notes when each row first appears.
	tabs[0]()
	c, cancel := newTab()
	defer cancel()
	run(t, c, "watching console", chromedp.Navigate(url+"/#/jobs"), chromedp.WaitVisible(css(`tr[data-job]`)))
	text(t, c, `window.seen = {}; new MutationObserver(() => { const now = Date.now(); for (const r of document.querySelectorAll('tr[data-job]')) if (!(r.dataset.job in window.seen)) window.seen[r.dataset.job] = now; }).observe(document.getElementById('main'), {subtree: true, childList: true}); ""`)
	var mu sync.Mutex
	created := map[string]int64{}
	var sent atomic.Int64
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	start := time.Now()
	var wg sync.WaitGroup
	const workers, rate = 16, 1000
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				// Paced: job n of this sender is due at start + n*workers/rate.
				due := start.Add(time.Duration(i*workers+w) * time.Second / rate)
				time.Sleep(time.Until(due))
				resp, err := hc.Post(url+"/api/v1/jobs/orphan", "application/json", strings.NewReader(`{}`))
				if err != nil {
					continue
				}
				var out struct {
					JobID string `json:"job_id"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				mu.Lock()
				created[out.JobID] = time.Now().UnixMilli()
				mu.Unlock()
				sent.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	time.Sleep(2 * time.Second)
	var seen map[string]int64
	raw := text(t, c, `JSON.stringify(window.seen)`)
	if err := json.Unmarshal([]byte(raw), &seen); err != nil {
		t.Fatal(err)
	}
	var lags []float64
	for id, at := range seen {
		if c, ok := created[id]; ok {
			lags = append(lags, float64(at-c))
		}
	}
	slices.Sort(lags)
	if len(lags) == 0 {
		t.Fatal("no created job appeared in the live list")
	}
	p := func(q float64) float64 { return lags[min(int(q*float64(len(lags))), len(lags)-1)] }
	t.Logf("%d jobs in %v (%.0f/s); %d of them appeared in the live list (it shows the newest 50): lag p50 %.0f ms, p95 %.0f ms, max %.0f ms",
		sent.Load(), elapsed.Round(time.Millisecond), float64(sent.Load())/elapsed.Seconds(), len(lags), p(0.5), p(0.95), lags[len(lags)-1])
	if p(0.95) > 1000 {
		t.Errorf("live list lag p95 %.0f ms; want within 1 s", p(0.95))
	}
}
