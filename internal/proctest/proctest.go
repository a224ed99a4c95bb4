// Package proctest runs `avtomatika serve` processes for tests that kill
// them (SIGKILL) or run several on one store.
package proctest

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// Build builds the avtomatika binary into a temporary folder, with the
// race detector when the test has it (the packages the test binary was
// compiled from are then reused instead of compiled a second time).
func Build(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "avtomatika")
	args := append(append([]string{"build"}, raceFlags...), "-o", bin, "./cmd/avtomatika")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build avtomatika: %v\n%s", err, out)
	}
	return bin
}

// Proc is one serve process.
type Proc struct {
	URL  string
	Log  string // its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
}

// Kill sends SIGKILL and waits for the process to end.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Output is what the process printed so far.
func (p *Proc) Output() string {
	b, _ := os.ReadFile(p.Log)
	return string(b)
}

// Start runs `avtomatika serve` on the blueprints folder dir on a free
// loopback port, with env added to the test's environment, and waits until
// /_public/readyz answers 200. Cleanup kills it.
func Start(t testing.TB, bin, dir string, env ...string) *Proc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, "serve", "--blueprints", dir, "--addr", addr, "--env-file", filepath.Join(dir, "none.env"))
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &Proc{URL: "http://" + addr, cmd: cmd, done: make(chan struct{}), Log: logf.Name()}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	t.Cleanup(p.Kill)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(p.URL + "/_public/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("avtomatika serve exited: %s", p.Output())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("avtomatika serve not ready after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
