package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// resultGate is a loopback proxy in front of an orchestrator that answers
// the first result submissions with the statuses in refuse (and a
// Retry-After of one second), and reports every result it sees.
type resultGate struct {
	mu     sync.Mutex
	refuse []int
	seen   []wire.Result
	each   chan wire.Result
	proxy  *httputil.ReverseProxy
}

func newResultGate(t *testing.T, target string, refuse ...int) (*resultGate, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &resultGate{refuse: refuse, each: make(chan wire.Result, 64)}
	g.proxy = &httputil.ReverseProxy{ErrorLog: log.New(io.Discard, "", 0), Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }}
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	return g, ts.URL
}

func (g *resultGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != wire.RouteResult {
		g.proxy.ServeHTTP(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var res wire.Result
	_ = json.Unmarshal(body, &res)
	g.mu.Lock()
	g.seen = append(g.seen, res)
	code := 0
	if len(g.refuse) > 0 {
		code, g.refuse = g.refuse[0], g.refuse[1:]
	}
	g.mu.Unlock()
	select {
	case g.each <- res:
	default:
	}
	if code != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(code)
		io.WriteString(w, `{"error":"`+strconv.Itoa(code)+`"}`)
		return
	}
	g.proxy.ServeHTTP(w, r)
}

// submissions counts the results seen for task id.
func (g *resultGate) submissions(taskID string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.seen {
		if r.TaskID == taskID {
			n++
		}
	}
	return n
}

// A result answered 429 (with Retry-After) or 5xx is sent again until it
// is accepted; each copy carries a fresh timestamp and signature.
func TestResultRetriedOn429And5xx(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	g, proxied := newResultGate(t, url, http.StatusTooManyRequests, http.StatusTooManyRequests, http.StatusServiceUnavailable)
	w := newWorker(t, "retry-429", []string{proxied}, nil)
	tasks := make(chan string, 1)
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		tasks <- task.TaskID
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	id, err := c.Start(context.Background(), "inventory_check", map[string]any{"item_id": "x"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, id); j.Status != wire.StatusFinished {
		t.Fatalf("job %s (error %+v), want finished once the result got through", j.Status, j.Error)
	}
	taskID := <-tasks
	if n := g.submissions(taskID); n != 4 {
		t.Errorf("%d submissions of the result, want 4 (429, 429, 503, accepted)", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, r := range g.seen {
		if r.Security == nil || r.Security.SignerID != "retry-429" || r.Status != wire.ResultSuccess {
			t.Errorf("submission %d: %+v, want a signed success", i, r)
		}
		if i > 0 && r.Timestamp < g.seen[i-1].Timestamp {
			t.Errorf("submission %d stamped %d, before the previous one's %d", i, r.Timestamp, g.seen[i-1].Timestamp)
		}
	}
}

// A result refused with a 4xx other than 429 is final: it is not sent
// again, and the worker goes on to the next task.
func TestResultRefusedIsNotRetried(t *testing.T) {
	t.Parallel()
	url, _ := orchestrator(t)
	g, proxied := newResultGate(t, url, http.StatusBadRequest)
	w := newWorker(t, "refused-1", []string{proxied}, func(c *worker.Config) { c.MaxConcurrentTasks = 1 })
	tasks := make(chan string, 2)
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		tasks <- task.TaskID
		return worker.Result{Data: map[string]any{"in_stock": true}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	ctx := context.Background()
	if _, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "a"}, client.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	first := <-tasks
	// With one slot, the second task runs only after the first result's
	// submission ended; had it been retried, the retry would come first.
	next, err := c.Start(ctx, "inventory_check", map[string]any{"item_id": "b"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j := wait(t, c, next); j.Status != wire.StatusFinished {
		t.Fatalf("next job %s, want finished", j.Status)
	}
	if n := g.submissions(first); n != 1 {
		t.Errorf("the refused result was sent %d times, want once", n)
	}
}

// Cancelling a job reaches the handler of its running task, over the
// WebSocket push and over the heartbeat reply alike: the handler's
// context ends with the cancellation (not the worker's shutdown, which
// this test only does at cleanup), CheckForCancellation says so, and the
// result sent is "cancelled".
func TestCancellationReachesHandler(t *testing.T) {
	t.Parallel()
	for _, push := range []bool{true, false} {
		t.Run(map[bool]string{true: "websocket", false: "heartbeat"}[push], func(t *testing.T) {
			t.Parallel()
			url, _ := orchestrator(t)
			g, proxied := newResultGate(t, url)
			w := newWorker(t, "cancel-seen", []string{proxied}, func(c *worker.Config) { c.EnableWebSockets = push })
			started := make(chan string, 1)
			observed := make(chan bool, 1)
			w.Handle("long_running_task", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
				if task.CheckForCancellation(ctx) {
					t.Error("a task is cancelled before it was")
				}
				started <- task.TaskID
				<-ctx.Done()
				observed <- task.CheckForCancellation(ctx)
				return worker.Result{}, ctx.Err()
			})
			run(t, w)
			c := newClient(t, url)
			id, err := c.Start(context.Background(), "long_running", map[string]any{"duration_seconds": 60}, client.StartOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var taskID string
			select {
			case taskID = <-started:
			case <-time.After(20 * time.Second):
				t.Fatal("the task never started")
			}
			if err := c.Cancel(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			select {
			case seen := <-observed:
				if !seen {
					t.Fatal("the handler's context ended but CheckForCancellation is false")
				}
			case <-time.After(20 * time.Second):
				t.Fatal("the cancellation never reached the running handler")
			}
			deadline := time.After(20 * time.Second)
			for {
				select {
				case r := <-g.each:
					if r.TaskID != taskID {
						continue
					}
					if r.Status != wire.ResultCancelled {
						t.Errorf("result of the cancelled task: %q, want %q", r.Status, wire.ResultCancelled)
					}
					return
				case <-deadline:
					t.Fatal("no result was sent for the cancelled task")
				}
			}
		})
	}
}
