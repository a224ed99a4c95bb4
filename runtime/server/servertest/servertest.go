// Package servertest starts a real orchestrator on a loopback port for
// end-to-end tests of code that talks to it over HTTP: the worker SDK,
// the client SDK, the CLI.
//
// Start copies the blueprints it is given into a fresh folder (so a test
// may edit them and watch the hot reload without touching the sources),
// builds a server.Server on the memory store unless another store is
// given, serves it on 127.0.0.1 with a free port, and stops it when the
// test ends: Run's drain finishes, then the test's cleanup returns.
//
//	srv := servertest.Start(t, servertest.Options{Examples: true})
//	resp, err := http.Post(srv.URL+"/api/v1/jobs/inventory_check", ...)
//
// Workers authenticate with WorkerToken unless Options.Config says
// otherwise; the client API is open unless a client token or clients are
// configured.
package servertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// WorkerToken is the global worker token of a test server unless
// Options.Config sets another.
const WorkerToken = "test-worker-token"

// Options say what a test server serves. The zero value serves an empty
// blueprints folder.
type Options struct {
	// Examples copies the repository's blueprints/ folder (found by
	// walking up from the working directory to go.mod).
	Examples bool
	// Dir is a blueprints folder to copy (after Examples).
	Dir string
	// Files are blueprint files written into the folder last, by name.
	Files map[string]string
	// Config, when set, adjusts the configuration before the server is
	// built; BlueprintsDir is then set to the copied folder. The
	// defaults: config.Default() with GlobalWorkerToken WorkerToken and a
	// 2 s long-poll hold.
	Config func(*config.Config)
	// Clients and Workers are clients.toml and workers.toml entries.
	Clients []config.Client
	Workers map[string]string
	// Store is the store (default: a new memory store). It is closed
	// when the server stops.
	Store store.Store
	// Clock is the server's clock (default time.Now).
	Clock func() time.Time
	// Addr is the address to listen on (default 127.0.0.1:0). A test
	// that restarts a server on the same port sets it.
	Addr string
	// Grace bounds the drain when the server stops (default 5 s).
	Grace time.Duration
	// History is the job archive (default none); closed when the server
	// stops.
	History store.Archive
}

// Server is a running test server.
type Server struct {
	*server.Server
	// URL is the base URL, http://127.0.0.1:PORT.
	URL string
	// Addr is the listening address, 127.0.0.1:PORT.
	Addr string
	// Dir is the blueprints folder the server watches.
	Dir string

	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// Start starts a server for the test and stops it at the test's end. A
// failure to start fails the test at once.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	dir := t.TempDir()
	s, err := Run(dir, o)
	if err != nil {
		t.Fatalf("servertest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("servertest: %v", err)
		}
	})
	return s
}

// Run is Start without a test: it copies the blueprints into dir (which
// must exist) and serves them until Close. Scripts and benchmarks use it.
func Run(dir string, o Options) (*Server, error) {
	if err := fill(dir, o); err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.GlobalWorkerToken = WorkerToken
	cfg.PollTimeout = 2 * time.Second
	if o.Config != nil {
		o.Config(&cfg)
	}
	cfg.BlueprintsDir = dir
	srv, err := server.New(server.Options{Config: cfg, Store: o.Store, Clock: o.Clock, Clients: o.Clients, Workers: o.Workers, History: o.History})
	if err != nil {
		return nil, err
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if st := o.Store; st != nil {
			_ = st.Close()
		}
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	grace := o.Grace
	if grace == 0 {
		grace = 5 * time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{Server: srv, URL: "http://" + l.Addr().String(), Addr: l.Addr().String(), Dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { s.done <- srv.Run(ctx, l, grace) }()
	return s, nil
}

// Close stops the server as SIGTERM would (drain, then stop) and waits
// for it; later calls return the same result.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.cancel()
		select {
		case s.err = <-s.done:
		case <-time.After(30 * time.Second):
			s.err = fmt.Errorf("server on %s did not stop within 30 s", s.Addr)
		}
	})
	return s.err
}

// WriteFile writes a blueprint file into the served folder; the server
// reloads it as it would an author's edit.
func (s *Server) WriteFile(name, src string) error {
	return os.WriteFile(filepath.Join(s.Dir, name), []byte(src), 0o644)
}

func fill(dir string, o Options) error {
	if o.Examples {
		ex, err := ExamplesDir()
		if err != nil {
			return err
		}
		if err := copyDir(dir, ex); err != nil {
			return err
		}
	}
	if o.Dir != "" {
		if err := copyDir(dir, o.Dir); err != nil {
			return err
		}
	}
	for name, src := range o.Files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyDir(dst, src string) error {
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return fmt.Errorf("copy blueprints from %s: %w", src, err)
	}
	return nil
}

// ExamplesDir is the repository's blueprints/ folder, found by walking up
// from the working directory to the folder holding go.mod.
func ExamplesDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			ex := filepath.Join(d, "blueprints")
			if st, err := os.Stat(ex); err != nil || !st.IsDir() {
				return "", fmt.Errorf("no blueprints folder beside %s", filepath.Join(d, "go.mod"))
			}
			return ex, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("no go.mod above " + wd + ": cannot find the example blueprints")
		}
		d = up
	}
}
