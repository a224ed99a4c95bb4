// Package redistest gives tests a Redis server: one the test starts itself
// (redis-server on PATH, a free loopback port, a temporary directory) or,
// when the binary is missing, the server named by REDIS_URL with a fresh
// random key prefix. With CI set, a test that finds neither fails instead
// of skipping.
package redistest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options shape a server the test starts.
type Options struct {
	// AOF turns on the append-only file with this appendfsync policy
	// ("always", "everysec"); "" leaves persistence off.
	AOF string
	// Dir is the data directory; "" makes a fresh temporary one. A
	// restarted server given the same Dir reads its AOF back.
	Dir string
	// Port is the port to listen on; 0 picks a free one.
	Port int
}

// Server is a Redis server for one test.
type Server struct {
	// URL is redis://host:port/db.
	URL string
	// Prefix is a key prefix no other test uses.
	Prefix string
	// Dir and Port are set for a server the test started.
	Dir  string
	Port int

	cmd  *exec.Cmd
	done chan struct{}
}

// Start returns a Redis for the test: its own server when redis-server is
// on PATH, else REDIS_URL. It skips when neither is available, except in CI
// (env CI set), where it fails. Cleanup stops the server it started, or
// deletes the keys under Prefix on a shared one (never a flush).
func Start(t testing.TB, opt Options) *Server {
	t.Helper()
	prefix := "t" + randHex(6)
	if _, err := exec.LookPath("redis-server"); err == nil {
		s := StartServer(t, opt)
		s.Prefix = prefix
		return s
	}
	if opt.AOF != "" || opt.Dir != "" {
		unavailable(t, "redis-server is not on PATH (needed for a server with its own data directory)")
	}
	url := os.Getenv("REDIS_URL")
	if url == "" {
		unavailable(t, "neither redis-server on PATH nor REDIS_URL set")
	}
	if _, err := redis.ParseURL(url); err != nil {
		t.Fatalf("REDIS_URL: %v", err)
	}
	s := &Server{URL: url, Prefix: prefix}
	t.Cleanup(func() { deletePrefix(url, prefix) })
	return s
}

func unavailable(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("redis: %s; CI requires Redis", why)
	}
	t.Skipf("redis: %s", why)
}

// StartServer starts redis-server for the test (it must be on PATH) and
// stops it with kill -9 at cleanup unless Kill was called before.
func StartServer(t testing.TB, opt Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		unavailable(t, "redis-server is not on PATH")
	}
	dir := opt.Dir
	if dir == "" {
		dir = t.TempDir()
	}
	var lastErr error
	for range 5 {
		port := opt.Port
		if port == 0 {
			port = freePort(t)
		}
		s, err := launch(bin, dir, port, opt)
		if err == nil {
			t.Cleanup(s.Kill)
			return s
		}
		lastErr = err
		if opt.Port != 0 {
			break
		}
	}
	t.Fatalf("start redis-server: %v", lastErr)
	return nil
}

func launch(bin, dir string, port int, opt Options) (*Server, error) {
	args := []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--daemonize", "no", "--protected-mode", "no", "--loglevel", "warning"}
	if opt.AOF != "" {
		args = append(args, "--appendonly", "yes", "--appendfsync", opt.AOF)
	} else {
		args = append(args, "--appendonly", "no")
	}
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("redis-%d.log", port)))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s := &Server{URL: fmt.Sprintf("redis://127.0.0.1:%d/0", port), Dir: dir, Port: port, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		logf.Close()
		close(s.done)
	}()
	// Ready once PING answers PONG (after loading any AOF).
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pingOK(s.URL) {
			return s, nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("redis-server on port %d exited: %s", port, strings.TrimSpace(string(log)))
		default:
		}
		if time.Now().After(deadline) {
			s.Kill()
			return nil, fmt.Errorf("redis-server on port %d: not ready after 20s", port)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pingOK(url string) bool {
	u := strings.TrimPrefix(url, "redis://")
	addr := u[:strings.IndexByte(u, '/')]
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// Kill stops the server with SIGKILL (no shutdown save) and waits for it.
// A no-op for a shared server or one already stopped.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
}

// Restart kills the server and starts a new one on the same port and data
// directory with the same options.
func (s *Server) Restart(t testing.TB, opt Options) {
	t.Helper()
	if s.cmd == nil {
		t.Fatal("restart: not a server this test started")
	}
	s.Kill()
	opt.Dir, opt.Port = s.Dir, s.Port
	bin, _ := exec.LookPath("redis-server")
	var n *Server
	var err error
	for range 50 { // the port may linger briefly after the kill
		if n, err = launch(bin, s.Dir, s.Port, opt); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart redis-server: %v", err)
	}
	s.cmd, s.done = n.cmd, n.done
	t.Cleanup(s.Kill)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Fresh returns a new key prefix for one (sub)test on this server; on a
// shared server its keys are deleted when t ends.
func (s *Server) Fresh(t testing.TB) string {
	prefix := "t" + randHex(6)
	if s.cmd == nil {
		t.Cleanup(func() { deletePrefix(s.URL, prefix) })
	}
	return prefix
}

// deletePrefix removes the keys of one prefix from a shared server: the
// store's keys are "{prefix}..." (one hash slot) and "prefix:...".
func deletePrefix(url, prefix string) {
	ropt, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	c := redis.NewClient(ropt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, pat := range []string{"{" + prefix + "}*", prefix + ":*"} {
		iter := c.Scan(ctx, 0, pat, 1000).Iterator()
		var batch []string
		for iter.Next(ctx) {
			batch = append(batch, iter.Val())
			if len(batch) == 500 {
				c.Unlink(ctx, batch...)
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			c.Unlink(ctx, batch...)
		}
	}
}
