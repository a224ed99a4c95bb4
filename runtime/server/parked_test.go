package server

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

var statusClient = &http.Client{Timeout: 5 * time.Second}

// Bad input on a parked worker connection (parked once its heartbeat was
// answered): whatever comes, the answer is never a 5xx, and the server
// goes on serving.
func TestParkedConnectionBadInput(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t, nil, nil)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx, l, time.Second); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := l.Addr().String()
	hb := "PATCH /_worker/workers/fz HTTP/1.1\r\nHost: x\r\nX-Worker-Token: " + workerToken + "\r\nContent-Type: application/json\r\nContent-Length: 18\r\n\r\n{\"worker_id\":\"fz\"}"
	reg := `{"worker_id":"fz","supported_skills":[{"name":"check_inventory"}]}`
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		req, _ := http.NewRequest("POST", "http://"+addr+"/_worker/workers/register", strings.NewReader(reg))
		req.Header.Set("X-Worker-Token", workerToken)
		req.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the server did not start")
		}
	}
	for _, in := range []string{
		hb,
		"GET /_worker/workers/fz/tasks/next?timeout=0 HTTP/1.1\r\nHost: x\r\nX-Worker-Token: " + workerToken + "\r\n\r\n",
		"GET /_public/status HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /_worker/tasks/result HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n0\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"\r\n\r\n",
		"GARBAGE\n\n",
		"GET /_worker/x HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
		"PATCH /_worker/workers/fz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999\r\n\r\n{",
		"PATCH /_worker/workers/fz HTTP/1.1\r\n" + strings.Repeat("X-Long: "+strings.Repeat("a", 1000)+"\r\n", 8) + "\r\n",
		"PATCH /_worker/workers/fz HTTP/1.1\r\nHost: x\r\nX-Worker-Token: " + workerToken + "\r\nContent-Length: 5\r\n\r\n{\"a\":",
		"GET /_worker/workers/%zz/tasks/next HTTP/1.1\r\nHost: x\r\n\r\n",
		"\x00\x01\x02\xff\r\n\r\n",
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, hb); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("heartbeat: %v %v", resp, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		// The connection is parked now.
		_, _ = io.WriteString(c, in)
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		out, _ := io.ReadAll(br)
		for _, line := range bytes.Split(out, []byte("\r\n")) {
			if bytes.HasPrefix(line, []byte("HTTP/1.")) && len(line) > 9 && line[9] == '5' {
				t.Fatalf("answer to %q: %q", in, out)
			}
		}
		resp, err = statusClient.Get("http://" + addr + "/_public/status")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("status after %q: %v %v", in, resp, err)
		}
		resp.Body.Close()
	}
}
