package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// oneConnClient is an HTTP client that keeps to one connection and
// counts the connections it opened.
func oneConnClient(dials *atomic.Int32) *http.Client {
	var d net.Dialer
	return &http.Client{Transport: &http.Transport{
		MaxConnsPerHost: 1,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
	}}
}

func sendOn(t *testing.T, c *http.Client, method, url, id, body string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Worker-Token", workerToken)
	req.Header.Set("X-Worker-ID", id)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// waitWaiting waits until n polls wait in the store.
func waitWaiting(t *testing.T, h *harness, n int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		st, err := h.srv.Store().Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Waiting == n {
			return
		}
	}
	t.Fatalf("never %d polls waiting", n)
}

// A worker's connection is parked after a heartbeat and while its poll
// waits past parkAfter; the worker keeps talking over that one connection
// (heartbeat, held poll answered with a task, result, idle poll answered
// 204) and every answer is the one the handler gave.
func TestParkedConnectionKeepsServing(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	var dials atomic.Int32
	c := oneConnClient(&dials)
	id := "parked-w"
	if resp, b := sendOn(t, c, "POST", h.url+"/_worker/workers/register", id, `{"worker_id":"`+id+`","supported_skills":[{"name":"check_inventory"}]}`); resp.StatusCode != 200 {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	for range 2 { // parked after the first; served parked the second time
		resp, b := sendOn(t, c, "PATCH", h.url+"/_worker/workers/"+id, id, `{"worker_id":"`+id+`","status":"idle"}`)
		if resp.StatusCode != 200 || !strings.Contains(b, `"status":"ok"`) || resp.Header.Get(wire.HeaderVersion) != wire.Version {
			t.Fatalf("heartbeat: %d %v %s", resp.StatusCode, resp.Header, b)
		}
		if resp.ContentLength != int64(len(b)) || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("heartbeat framing: length %d for %d bytes, type %q", resp.ContentLength, len(b), resp.Header.Get("Content-Type"))
		}
	}
	if resp, b := sendOn(t, c, "PATCH", h.url+"/_worker/workers/nobody", "nobody", `{"worker_id":"nobody"}`); resp.StatusCode != 404 || !strings.Contains(b, "Worker not found") {
		t.Fatalf("unknown worker's heartbeat: %d %s", resp.StatusCode, b)
	}

	got := make(chan *http.Response, 1)
	body := make(chan string, 1)
	go func() {
		resp, b := sendOn(t, c, "GET", h.url+"/_worker/workers/"+id+"/tasks/next?timeout=5", id, "")
		got <- resp
		body <- b
	}()
	waitWaiting(t, h, 1)
	time.Sleep(2 * parkAfter) // past parkAfter: the poll is parked
	job := h.create("/jobs/inventory_check", map[string]any{"item_id": "sku-1", "quantity": 1})
	resp := <-got
	var task wire.Task
	if b := <-body; resp.StatusCode != 200 || json.Unmarshal([]byte(b), &task) != nil || task.JobID != job || task.Type != "check_inventory" {
		t.Fatalf("held poll: %d %s", resp.StatusCode, b)
	}
	res := fmt.Sprintf(`{"job_id":%q,"task_id":%q,"worker_id":%q,"status":"success","data":{"available":true}}`, task.JobID, task.TaskID, id)
	if resp, b := sendOn(t, c, "POST", h.url+"/_worker/tasks/result", id, res); resp.StatusCode != 200 || !strings.Contains(b, `"accepted"`) {
		t.Fatalf("result: %d %s", resp.StatusCode, b)
	}
	if resp, b := sendOn(t, c, "GET", h.url+"/_worker/workers/"+id+"/tasks/next?timeout=0.6", id, ""); resp.StatusCode != 204 || b != "" || resp.Header.Get(wire.HeaderVersion) != wire.Version {
		t.Fatalf("idle poll: %d %q %v", resp.StatusCode, b, resp.Header)
	}
	if resp, b := sendOn(t, c, "GET", h.url+"/_worker/workers/"+id+"/tasks/next?timeout=x", id, ""); resp.StatusCode != 400 || !strings.Contains(b, "invalid_query") {
		t.Fatalf("bad poll: %d %q", resp.StatusCode, b)
	}
	// A client request on the parked connection goes back to net/http.
	if resp, _ := sendOn(t, c, "GET", h.url+"/_public/status", id, ""); resp.StatusCode != 200 {
		t.Fatalf("status: %d", resp.StatusCode)
	}
	if resp, _ := sendOn(t, c, "PATCH", h.url+"/_worker/workers/"+id, id, `{"worker_id":"`+id+`"}`); resp.StatusCode != 200 {
		t.Fatalf("heartbeat after the hand-back: %d", resp.StatusCode)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("%d connections opened, want 1 (kept alive throughout)", n)
	}
}

// A parked poll whose client goes away leaves the waiting polls: the
// next task goes to a poll that is still there.
func TestParkedPollClientGone(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	h.worker("gone-w", "check_inventory")
	stay := h.worker("stay-w", "check_inventory")
	addr := strings.TrimPrefix(h.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /_worker/workers/gone-w/tasks/next?timeout=5 HTTP/1.1\r\nHost: %s\r\nX-Worker-Token: %s\r\n\r\n", addr, workerToken)
	waitWaiting(t, h, 1)
	time.Sleep(2 * parkAfter) // parked
	conn.Close()
	waitWaiting(t, h, 0)
	got := make(chan *wire.Task, 1)
	go func() { got <- stay.poll(5) }()
	waitWaiting(t, h, 1)
	job := h.create("/jobs/inventory_check", map[string]any{"item_id": "sku-1", "quantity": 1})
	if task := <-got; task == nil || task.JobID != job {
		t.Fatalf("the remaining poll got %+v, want a task of job %s", task, job)
	}
}

// A parked poll is answered 204 when the server drains, and its
// connection closed.
func TestParkedPollDrain(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	h.worker("drain-w", "check_inventory")
	addr := strings.TrimPrefix(h.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /_worker/workers/drain-w/tasks/next?timeout=5 HTTP/1.1\r\nHost: %s\r\nX-Worker-Token: %s\r\n\r\n", addr, workerToken)
	waitWaiting(t, h, 1)
	time.Sleep(2 * parkAfter) // parked
	h.stop()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 204 || !resp.Close {
		t.Fatalf("drained poll: %d, close %v", resp.StatusCode, resp.Close)
	}
}

// Pipelined requests behind a parked poll are answered in order.
func TestParkedPollPipelined(t *testing.T) {
	t.Parallel()
	h := start(t, true, nil)
	h.worker("pipe-w", "check_inventory")
	addr := strings.TrimPrefix(h.url, "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	poll := fmt.Sprintf("GET /_worker/workers/pipe-w/tasks/next?timeout=0.6 HTTP/1.1\r\nHost: %s\r\nX-Worker-Token: %s\r\n\r\n", addr, workerToken)
	hb := `{"worker_id":"pipe-w"}`
	patch := fmt.Sprintf("PATCH /_worker/workers/pipe-w HTTP/1.1\r\nHost: %s\r\nX-Worker-Token: %s\r\nContent-Length: %d\r\n\r\n%s", addr, workerToken, len(hb), hb)
	fmt.Fprint(conn, poll+patch+poll)
	br := bufio.NewReader(conn)
	for i, want := range []int{204, 200, 204} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("answer %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
}

func TestQueryValueAndMayBeSigned(t *testing.T) {
	for _, q := range []string{"timeout=5", "a=1&timeout=2.5&timeout=3", "timeout=%35", "x=1", "", "timeout", "timeout=1+2", "a=%zz&timeout=1"} {
		u := &url.URL{RawQuery: q}
		if got, want := queryValue(u, "timeout"), u.Query().Get("timeout"); got != want {
			t.Errorf("queryValue(%q) = %q, want %q", q, got, want)
		}
	}
	for body, want := range map[string]bool{
		`{"worker_id":"w","status":"idle"}`: false,
		`{"security":{"signature":"x"}}`:    true,
		`{"SECURITY":{}}`:                   true,
		`{"s\u0065curity":{}}`:              true,
		`{"note":"insecurity"}`:             true, // a false alarm is only slower
	} {
		if got := mayBeSigned([]byte(body)); got != want {
			t.Errorf("mayBeSigned(%s) = %v, want %v", body, got, want)
		}
	}
}

// With parking off, no connection is taken over: a heartbeat's connection
// and a poll held past parkAfter stay with net/http, and the worker is
// served the same.
func TestParkingOption(t *testing.T) {
	t.Parallel()
	parkingModes(t, func(t *testing.T) {
		h := start(t, true, nil)
		var dials atomic.Int32
		c := oneConnClient(&dials)
		reg := `{"worker_id":"pk","supported_skills":[{"name":"check_inventory"}]}`
		if resp, body := sendOn(t, c, "POST", h.url+"/_worker/workers/register", "pk", reg); resp.StatusCode != 200 {
			t.Fatalf("register: %d %s", resp.StatusCode, body)
		}
		if resp, body := sendOn(t, c, "PATCH", h.url+"/_worker/workers/pk", "pk", `{"worker_id":"pk"}`); resp.StatusCode != 200 {
			t.Fatalf("heartbeat: %d %s", resp.StatusCode, body)
		}
		if resp, body := sendOn(t, c, "GET", h.url+"/_worker/workers/pk/tasks/next?timeout=0.4", "pk", ""); resp.StatusCode != 204 {
			t.Fatalf("held poll: %d %s", resp.StatusCode, body)
		}
		parkers := 0
		h.srv.parkers.Range(func(any, any) bool { parkers++; return true })
		if want := map[bool]int{false: 1, true: 0}[parkingOff(t)]; parkers != want {
			t.Errorf("%d parkers, want %d", parkers, want)
		}
		if n := dials.Load(); n != 1 {
			t.Errorf("%d connections, want 1", n)
		}
	})
}
