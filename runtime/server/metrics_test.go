package server

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// metricNames are the avtomatika_ series a text names (histogram
// suffixes taken off).
func metricNames(text string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`avtomatika_[a-z_]+`).FindAllString(text, -1) {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if strings.HasSuffix(m, "_seconds"+suf) {
				m = strings.TrimSuffix(m, suf)
			}
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// The Grafana dashboard queries only series the server serves, and
// docs/metrics.md lists every one of them.
func TestDashboardAndDocsNameServedMetrics(t *testing.T) {
	h := start(t, false, nil)
	served := h.srv.metrics.names()
	if len(served) < 15 {
		t.Fatalf("served %v", served)
	}
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	queried := map[string]bool{}
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, m := range metricNames(tg.Expr) {
				queried[m] = true
				if !slices.Contains(served, m) {
					t.Errorf("panel %q queries %s, which the server does not serve", p.Title, m)
				}
			}
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := metricNames(string(doc))
	for _, m := range served {
		if !slices.Contains(documented, m) {
			t.Errorf("%s is not in docs/metrics.md", m)
		}
		if !queried[m] {
			t.Errorf("%s is on no panel of the dashboard", m)
		}
	}
	for _, m := range documented {
		if !slices.Contains(served, m) {
			t.Errorf("docs/metrics.md names %s, which the server does not serve", m)
		}
	}
}

const flakyBP = `name: flaky
endpoint: /jobs/flaky
start: work
states:
  work:
    task: {type: flaky_op, retries: 2, timeout: 30s}
    transitions: {success: done, failure: failed}
  done: {end: success}
  failed: {end: failure}
`

// scrape returns the value of each series of the metrics page, keyed by
// its name and labels as printed.
func scrape(t *testing.T, h *harness) map[string]float64 {
	t.Helper()
	return scrapeURL(t, h.url)
}

// scrapeURL reads the avtomatika_ series the server at url serves.
func scrapeURL(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/_public/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || !strings.HasPrefix(line, "avtomatika_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, _ := strconv.ParseFloat(line[i+1:], 64)
		out[line[:i]] = v
	}
	return out
}

// A job whose first attempt fails and is retried: the series answer how
// long it waited, ran and took, what was retried and what is queued.
func TestMetricsOfAJob(t *testing.T) {
	h := start(t, false, map[string]string{"flaky.yaml": flakyBP})
	id := h.create("/jobs/flaky", nil)
	m := scrape(t, h)
	if m[`avtomatika_queue_depth{type="flaky_op"}`] != 1 || m[`avtomatika_tasks_queued`] != 1 {
		t.Fatalf("queued: %v", m)
	}
	if _, ok := m[`avtomatika_queue_oldest_age_seconds{type="flaky_op"}`]; !ok {
		t.Fatalf("no oldest age: %v", m)
	}
	w := h.worker("w1", "flaky_op")
	p := w.mustPoll()
	w.result(p, "failure", nil, wire.CodeTransientError)
	var p2 *wire.Task
	deadline := time.Now().Add(20 * time.Second)
	for p2 == nil && time.Now().Before(deadline) {
		p2 = w.poll(1) // the retry comes after its backoff
	}
	if p2 == nil {
		t.Fatal("no retry")
	}
	w.result(p2, "success", nil, "")
	h.waitStatus(id, wire.StatusFinished)
	m = scrape(t, h)
	for k, want := range map[string]float64{
		`avtomatika_jobs_created_total{blueprint="flaky"}`:                                                         1,
		`avtomatika_jobs_ended_total{blueprint="flaky",status="finished"}`:                                         1,
		`avtomatika_job_duration_seconds_count{blueprint="flaky",status="finished"}`:                               1,
		`avtomatika_task_duration_seconds_count{blueprint="flaky",outcome="failure",state="work",type="flaky_op"}`: 1,
		`avtomatika_task_duration_seconds_count{blueprint="flaky",outcome="success",state="work",type="flaky_op"}`: 1,
		`avtomatika_dispatch_wait_seconds_count{type="flaky_op"}`:                                                  2,
		`avtomatika_task_retries_total{blueprint="flaky",code="TRANSIENT_ERROR",type="flaky_op"}`:                  1,
		`avtomatika_tasks_leased_total{type="flaky_op"}`:                                                           2,
		`avtomatika_queue_depth{type="flaky_op"}`:                                                                  0,
		`avtomatika_queue_oldest_age_seconds{type="flaky_op"}`:                                                     0,
		`avtomatika_workers{status="idle",worker_type="test"}`:                                                     1,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, want)
		}
	}
}
