package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/internal/park"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// childEnv marks the test binary run as the server of
// TestConnectionsBoundedUnderFileLimit.
const childEnv = "AVTOMATIKA_CONNCAP_CHILD"

// TestConnCapChild is the server of TestConnectionsBoundedUnderFileLimit,
// run in a process of its own with 1,024 open files at most; it serves
// until its stdin closes. Run alone, it does nothing.
func TestConnCapChild(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		return
	}
	rl := syscall.Rlimit{Cur: 1024, Max: 1024}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	cfg.Limits.MaxConnections = 0 // from the open-file limit
	srv, err := New(Options{Config: cfg, Blueprints: loadExamples(t)})
	if err != nil {
		t.Fatal(err)
	}
	l, cancel, done := runOn(t, srv, 5*time.Second)
	fmt.Printf("ADDR %s MAX %d\n", l.Addr(), srv.maxConnections())
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// 1,100 idle or slow connections against a server limited to 1,024 open
// files leave it serving: the oldest idle ones are closed to make room,
// the slow bodies end at their deadline, and it never runs out of files.
func TestConnectionsBoundedUnderFileLimit(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestConnCapChild$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := bufio.NewScanner(stdout)
	var addr string
	var maxConns int
	var rest strings.Builder
	for out.Scan() {
		if _, err := fmt.Sscanf(out.Text(), "ADDR %s MAX %d", &addr, &maxConns); err == nil {
			break
		}
		rest.WriteString(out.Text() + "\n")
	}
	if addr == "" {
		_ = cmd.Wait()
		t.Fatalf("the server did not start:\n%s%s", rest.String(), stderr.String())
	}
	go func() {
		for out.Scan() {
			rest.WriteString(out.Text() + "\n")
		}
	}()
	if maxConns != 1024-128 {
		t.Errorf("connection cap under 1,024 open files: %d, want 896", maxConns)
	}

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}()
	for i := range 1100 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		conns = append(conns, c)
		switch i % 11 {
		case 0: // a slow body: a whole head, then 10 of 100 bytes
			_, _ = io.WriteString(c, "POST /api/v1/jobs/long_running HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"initial_")
		case 1, 2, 3, 4, 5: // a slow head
			_, _ = io.WriteString(c, "GET /_public/status HTTP/1.1\r\nHost: x\r\n")
		default: // idle
		}
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 20 {
		resp, err := hc.Get("http://" + addr + "/_public/status")
		if err != nil {
			t.Fatalf("request %d among 1,100 idle or slow connections: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d among 1,100 idle or slow connections: %d", i, resp.StatusCode)
		}
		resp, err = hc.Post("http://"+addr+"/api/v1/jobs/long_running", "application/json", strings.NewReader(`{"initial_data": {"duration_seconds": 1}}`))
		if err != nil {
			t.Fatalf("create %d among 1,100 idle or slow connections: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("create %d: %d", i, resp.StatusCode)
		}
	}
	for _, c := range conns {
		_ = c.Close()
	}
	conns = nil
	_ = stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the server failed: %v\n%s%s", err, rest.String(), stderr.String())
	}
	if strings.Contains(rest.String()+stderr.String(), "too many open files") {
		t.Errorf("the server ran out of files:\n%s%s", rest.String(), stderr.String())
	}
}

// readClosed reports whether the server closes c within bound (nothing
// else may arrive on it).
func readClosed(c net.Conn, r io.Reader, bound time.Duration) error {
	_ = c.SetReadDeadline(time.Now().Add(bound))
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("not closed: %v (read %q)", err, b)
	}
	return nil
}

// An idle keep-alive connection closes after the idle timeout, parked or
// not, and a body that does not arrive in time ends its request.
func TestIdleAndBodyTimeouts(t *testing.T) {
	t.Parallel()
	parkingModes(t, func(t *testing.T) {
		h := startCfg(t, true, nil, nil, "", func(c *config.Config) {
			c.Limits.IdleTimeout, c.Limits.BodyReadTimeout = 300*time.Millisecond, 300*time.Millisecond
		})
		h.worker("w1", "a")
		addr := strings.TrimPrefix(h.url, "http://")
		for _, req := range []string{
			"GET /_public/status HTTP/1.1\r\nHost: x\r\n\r\n",
			"PATCH /_worker/workers/w1 HTTP/1.1\r\nHost: x\r\nX-Worker-Token: " + workerToken + "\r\nContent-Length: 0\r\n\r\n",
		} {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_, _ = io.WriteString(c, req)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%q: %d", req, resp.StatusCode)
			}
			if err := readClosed(c, br, 20*time.Second); err != nil {
				t.Errorf("idle after %q: %v", strings.Fields(req)[0], err)
			}
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, "POST /api/v1/jobs/long_running HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"initial_")
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if resp, err := http.ReadResponse(br, nil); err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("a body that did not arrive: %d, want 408", resp.StatusCode)
			}
		} else if err != io.EOF && err != io.ErrUnexpectedEOF {
			t.Errorf("a body that did not arrive: %v, want 408 or the connection closed", err)
		}
		if code := h.do("GET", "/_public/status", nil, nil, nil); code != 200 {
			t.Errorf("status after the slow body: %d", code)
		}
	})
}

// parkedCount is how many connections the server's parkers hold.
func parkedCount(s *Server) int {
	n := 0
	s.parkers.Range(func(_, p any) bool {
		n += p.(*park.Parker).Parked()
		return true
	})
	return n
}

// heartbeatConn sends a heartbeat on a connection of its own and returns
// the status; the connection stays open.
func heartbeatConn(t *testing.T, addr, worker, token string) (net.Conn, int) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	body := `{"worker_id": "` + worker + `", "status": "idle"}`
	fmt.Fprintf(c, "PATCH /_worker/workers/%s HTTP/1.1\r\nHost: x\r\nX-Worker-Token: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", worker, token, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return c, resp.StatusCode
}

// registerConn registers a worker on a connection of its own, closed
// after the reply.
func registerConn(t *testing.T, addr, worker, skill string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := fmt.Sprintf(`{"worker_id": %q, "worker_type": "test", "supported_skills": [{"name": %q}], "timestamp": %d}`, worker, skill, time.Now().Unix())
	fmt.Fprintf(c, "POST /_worker/workers/register HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Worker-Token: %s\r\nX-Worker-ID: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", workerToken, worker, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("register %s: %d", worker, resp.StatusCode)
	}
}

// A refused heartbeat is never parked; a worker's parked connections and
// held polls stop at its cap (a poll past it is 429).
func TestParkingBounded(t *testing.T) {
	t.Parallel()
	h := startCfg(t, true, nil, nil, "", func(c *config.Config) { c.Limits.MaxParkedPerWorker = 2 })
	h.worker("w1", "a")
	addr := strings.TrimPrefix(h.url, "http://")
	for range 3 {
		if _, code := heartbeatConn(t, addr, "w1", "wrong"); code != 403 {
			t.Fatalf("heartbeat with a wrong token: %d", code)
		}
	}
	if n := parkedCount(h.srv); n != 0 {
		t.Errorf("%d refused connections parked", n)
	}
	// Three polls held at once: the third is over the cap. Their client
	// keeps every idle connection (the default keeps two per host and
	// would close a parked one).
	cl := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 10}}
	t.Cleanup(cl.CloseIdleConnections)
	var wg sync.WaitGroup
	codes := make(chan int, 3)
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequest("GET", h.url+"/_worker/workers/w1/tasks/next?timeout=1", nil)
			for k, v := range h.wh("w1") {
				req.Header.Set(k, v)
			}
			resp, err := cl.Do(req)
			if err != nil {
				t.Error(err)
				codes <- 0
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			codes <- resp.StatusCode
		})
	}
	wg.Wait()
	close(codes)
	got := map[int]int{}
	for c := range codes {
		got[c]++
	}
	if got[204] != 2 || got[429] != 1 {
		t.Errorf("three held polls with a cap of two: %v, want two 204 and one 429", got)
	}
	// The polls' connections stay parked for the worker's next request,
	// holding its two slots: heartbeats on new connections are answered
	// but not parked.
	for range 3 {
		if _, code := heartbeatConn(t, addr, "w1", workerToken); code != 200 {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	if n, held := parkedCount(h.srv), h.srv.parked.held("w1"); n != 2 || held != 2 {
		t.Errorf("%d connections parked, %d slots held; want the worker's cap of 2", n, held)
	}
	// Another worker's three heartbeat connections: two parked. It
	// registers on a connection of its own that closes after the reply,
	// so the registration cannot reuse (and unpark) one of w1's.
	registerConn(t, addr, "w2", "a")
	for range 3 {
		if _, code := heartbeatConn(t, addr, "w2", workerToken); code != 200 {
			t.Fatalf("heartbeat: %d", code)
		}
	}
	if n, held := parkedCount(h.srv), h.srv.parked.held("w2"); n != 4 || held != 2 {
		t.Errorf("w2: %d connections parked in all, %d slots held; want 4 and 2", n, held)
	}
}

// A client that half-closes its connection after its request (its side
// done writing) gets no 500, and the server logs no ERROR for it.
func TestHalfClosedClients(t *testing.T) {
	t.Parallel()
	t.Run("memory", func(t *testing.T) { t.Parallel(); halfClosedClients(t, nil) })
	t.Run("redis", func(t *testing.T) { t.Parallel(); halfClosedClients(t, redisStore(t)) })
}

func halfClosedClients(t *testing.T, st store.Store) {
	var logs strings.Builder
	var logMu sync.Mutex
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	cfg.GlobalWorkerToken = workerToken
	srv, err := New(Options{Config: cfg, Blueprints: loadExamples(t), Store: st,
		Logger: slog.New(slog.NewTextHandler(lockedBuilder{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	l, cancel, done := runOn(t, srv, 5*time.Second)
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	addr := l.Addr().String()
	halfClosed := func(req string) int {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_, _ = io.WriteString(c, req)
		_ = c.(*net.TCPConn).CloseWrite()
		_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return 0 // closed without an answer: nobody would read one
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"initial_data": {"duration_seconds": 1}}`
	reg := `{"worker_id": "w1", "supported_skills": [{"name": "none"}]}`
	if code := halfClosed(fmt.Sprintf("POST /_worker/workers/register HTTP/1.1\r\nHost: x\r\nX-Worker-Token: %s\r\nContent-Length: %d\r\n\r\n%s", workerToken, len(reg), reg)); code >= 500 {
		t.Errorf("registration: %d", code)
	}
	var id string
	for _, req := range []string{
		fmt.Sprintf("POST /api/v1/jobs/long_running?wait=2 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body),
		fmt.Sprintf("POST /api/v1/jobs/long_running HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body),
		"GET /api/v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /_worker/workers/w1/tasks/next?timeout=2 HTTP/1.1\r\nHost: x\r\nX-Worker-Token: " + workerToken + "\r\n\r\n",
	} {
		if code := halfClosed(req); code >= 500 {
			t.Errorf("%q half-closed: %d", strings.SplitN(req, "\r\n", 2)[0], code)
		}
	}
	jobs, _ := srv.Store().ListJobs(context.Background(), store.ListParams{})
	for _, j := range jobs {
		id = j.ID
	}
	if id != "" {
		if code := halfClosed("GET /api/v1/jobs/" + id + "?wait=2 HTTP/1.1\r\nHost: x\r\n\r\n"); code >= 500 {
			t.Errorf("a held read half-closed: %d", code)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if strings.Contains(logs.String(), "level=ERROR") {
		t.Errorf("ERROR lines for clients that half-closed:\n%s", logs.String())
	}
}

type lockedBuilder struct {
	b  *strings.Builder
	mu *sync.Mutex
}

func (w lockedBuilder) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
