// Package proctest runs `avtomatika serve` processes for tests that kill
// them (SIGKILL) or run several on one store.
package proctest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Build returns the avtomatika binary built from this checkout, with the
// race detector when the test has it (the packages the test binary was
// compiled from are then reused instead of compiled a second time).
//
// Test processes of one `go test ./...` run share one build: it goes to
// a folder under os.TempDir() named by a hash of everything it is built
// from (the Go version, the flags, every dependency's folder, which for a
// module names its version, and the contents of this module's files it
// compiles or embeds), made under a file lock, so the first caller links
// it and the others wait for it. Builds of other sources that no test
// has used for an hour are removed.
func Build(t testing.TB) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root, err := filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	key, err := sourceKey(root)
	if err != nil {
		t.Fatalf("build avtomatika: %v", err)
	}
	base := filepath.Join(os.TempDir(), "avtomatika-proctest")
	dir := filepath.Join(base, key)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	bin := filepath.Join(dir, "avtomatika")
	if _, err := os.Stat(bin); err == nil {
		now := time.Now()
		_ = os.Chtimes(dir, now, now) // in use: not pruned
		return bin
	}
	tmp := bin + ".tmp"
	args := append(append([]string{"build"}, raceFlags...), "-o", tmp, "./cmd/avtomatika")
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build avtomatika: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		t.Fatal(err)
	}
	prune(base, key)
	return bin
}

// sourceKey hashes what the binary is built from.
func sourceKey(root string) (string, error) {
	cmd := exec.Command("go", "list", "-deps", "-f",
		"{{if not .Standard}}{{.Dir}} {{.GoFiles}} {{.CgoFiles}} {{.EmbedFiles}}{{end}}", "./cmd/avtomatika")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %w", err)
	}
	h := sha256.New()
	fmt.Fprintln(h, runtime.Version(), raceFlags, os.Getenv("GOFLAGS"), os.Getenv("CGO_ENABLED"))
	h.Write(out)
	for _, name := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return "", err
		}
		h.Write(b)
	}
	for _, line := range strings.Split(string(out), "\n") {
		dir, rest, ok := strings.Cut(line, " ")
		if !ok || !strings.HasPrefix(dir, root+string(filepath.Separator)) && dir != root {
			continue // a module's folder names its version
		}
		for _, f := range strings.Fields(strings.NewReplacer("[", " ", "]", " ").Replace(rest)) {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				return "", err
			}
			fmt.Fprintln(h, dir, f, len(b))
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// prune removes the builds beside keep that no test has used for an hour.
func prune(base, keep string) {
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if e.Name() == keep {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > time.Hour {
			_ = os.RemoveAll(filepath.Join(base, e.Name()))
		}
	}
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
