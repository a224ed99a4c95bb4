package worker_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

// startRedis runs redis-server on a free loopback port for the test and
// returns its URL; it skips when redis-server is not installed.
func startRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			c.Close()
			if line == "+PONG\r\n" {
				return "redis://" + addr + "/0"
			}
		}
		select {
		case <-exited:
			t.Fatal("redis-server exited at start")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not answer PING within 10 s")
		}
	}
}

// TestFailoverSharedRedis: two orchestrator instances share one Redis. A
// job created on the first waits while no worker runs; the first instance
// stops; a FAILOVER worker that lists it first finds it unreachable, polls
// the second and runs the job.
func TestFailoverSharedRedis(t *testing.T) {
	t.Parallel()
	redisURL := startRedis(t)
	instance := func() *servertest.Server {
		st, err := redisstore.Open(context.Background(), redisstore.Config{URL: redisURL, Prefix: "ha"})
		if err != nil {
			t.Fatal(err)
		}
		return servertest.Start(t, servertest.Options{Examples: true, Store: st, Config: func(c *config.Config) {
			c.GlobalWorkerToken = token
			c.PollTimeout = time.Second
		}})
	}
	a, b := instance(), instance()
	ca, cb := newClient(t, a.URL), newClient(t, b.URL)
	ctx := context.Background()
	id, err := ca.Start(ctx, "inventory_check", map[string]any{"item_id": "sku-42"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	w := newWorker(t, "ha-1", nil, func(c *worker.Config) {
		c.Orchestrators = []worker.Orchestrator{{URL: a.URL, Priority: 1}, {URL: b.URL, Priority: 2}}
	})
	w.Handle("check_inventory", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		return worker.Result{Data: map[string]any{"in_stock": true, "item_id": task.Params["item_id"]}}, nil
	})
	run(t, w)
	if j := wait(t, cb, id); j.Status != wire.StatusFinished {
		t.Fatalf("job created on the stopped instance: %s (error %+v), want finished through the second", j.Status, j.Error)
	}
}
