package worker_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

func TestParseDotEnv(t *testing.T) {
	t.Parallel()
	src := `# a comment
WORKER_ID=w-1
export WORKER_TOKEN = "se cret\"x\n"
ORCHESTRATOR_URL=http://orch:8080 # trailing comment
S3_SECRET_KEY='a#b "c"'
EMPTY=

HEARTBEAT_INTERVAL=2.5
`
	got, err := worker.ParseDotEnv(".env", strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"WORKER_ID": "w-1", "WORKER_TOKEN": "se cret\"x\n", "ORCHESTRATOR_URL": "http://orch:8080",
		"S3_SECRET_KEY": `a#b "c"`, "EMPTY": "", "HEARTBEAT_INTERVAL": "2.5",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseDotEnv:\n got %q\nwant %q", got, want)
	}
	for _, bad := range []string{"NOEQUALS\n", "A B=1\n", `X="open` + "\n", "=v\n"} {
		if _, err := worker.ParseDotEnv("conf.env", strings.NewReader("OK=1\n"+bad)); err == nil || !strings.Contains(err.Error(), "conf.env:2") {
			t.Errorf("%q: error %v, want one naming conf.env:2", bad, err)
		}
	}
}

// TestEnvDotFile: .env fills in what the process environment does not
// set; the environment wins; code wins over both.
func TestEnvDotFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(".env", []byte("WORKER_ID=from-file\nWORKER_TOKEN=file-token\nMAX_CONCURRENT_TASKS=3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WORKER_TOKEN", "env-token")
	lookup, err := worker.Env()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := worker.FromEnv(lookup)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WorkerID != "from-file" || cfg.Token != "env-token" || cfg.MaxConcurrentTasks != 3 {
		t.Errorf("config %+v: want WORKER_ID and MAX_CONCURRENT_TASKS from .env, WORKER_TOKEN from the environment", cfg)
	}
	cfg.MaxConcurrentTasks = 7 // set in code after reading the environment
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if w.ID() != "from-file" {
		t.Errorf("worker id %q", w.ID())
	}

	if err := os.WriteFile(".env", []byte("GOOD=1\nBROKEN LINE\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := worker.Env(); err == nil || !strings.Contains(err.Error(), ".env:2") {
		t.Errorf("broken .env: error %v, want one naming .env:2", err)
	}
}

func TestTokenPrecedence(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"WORKER_INDIVIDUAL_TOKEN": "i", "WORKER_TOKEN": "w", "AVTOMATIKA_WORKER_TOKEN": "a"}, "i"},
		{map[string]string{"WORKER_TOKEN": "w", "AVTOMATIKA_WORKER_TOKEN": "a"}, "w"},
		{map[string]string{"AVTOMATIKA_WORKER_TOKEN": "a"}, "a"},
		{map[string]string{"WORKER_INDIVIDUAL_TOKEN": "", "WORKER_TOKEN": "w"}, "w"},
		{map[string]string{}, ""},
	} {
		cfg, err := worker.FromEnv(func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok })
		if err != nil {
			t.Fatal(err)
		}
		if cfg.Token != tc.want {
			t.Errorf("%v: token %q, want %q", tc.env, cfg.Token, tc.want)
		}
	}
}

func TestFromEnvValues(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"ORCHESTRATOR_URL": "http://one:8080", "MULTI_ORCHESTRATOR_MODE": "round_robin", "MAX_CONCURRENT_TASKS": "4",
		"HEARTBEAT_INTERVAL": "2.5", "TASK_POLL_TIMEOUT": "10", "WORKER_SHUTDOWN_TIMEOUT": "3",
		"TASK_FILES_DIR": "/data/tasks", "S3_ENDPOINT_URL": "http://s3:9000", "S3_ACCESS_KEY": "k", "S3_SECRET_KEY": "s",
		"S3_REGION": "eu-1", "S3_DEFAULT_BUCKET": "b1", "CPU_CORES": "8",
	}
	cfg, err := worker.FromEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Orchestrators) != 1 || cfg.Orchestrators[0].URL != "http://one:8080" || cfg.Mode != worker.RoundRobin ||
		cfg.MaxConcurrentTasks != 4 || cfg.HeartbeatInterval != 2500*time.Millisecond || cfg.PollTimeout != 10*time.Second ||
		cfg.ShutdownTimeout != 3*time.Second || cfg.PayloadDir != "/data/tasks" ||
		cfg.S3 != (worker.S3Config{Endpoint: "http://s3:9000", AccessKey: "k", SecretKey: "s", Region: "eu-1", Bucket: "b1"}) ||
		cfg.Resources["cpu_cores"] != 8.0 {
		t.Errorf("FromEnv: %+v", cfg)
	}
	for name, val := range map[string]string{
		"WORKER_ENABLE_WEBSOCKETS": "maybe", "TASK_POLL_TIMEOUT": "soon", "CPU_CORES": "-1",
		"S3_ENDPOINT_URL": "::", "ORCHESTRATORS_CONFIG": `[{"token":"x"}]`,
	} {
		_, err := worker.FromEnv(func(k string) (string, bool) {
			if k == name {
				return val, true
			}
			return "", false
		})
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=%q: error %v, want one naming %s", name, val, err, name)
		}
	}
}

// TestNewKeepsCallerSlice: New does not reorder the caller's list of
// orchestrators.
func TestNewKeepsCallerSlice(t *testing.T) {
	t.Parallel()
	os := []worker.Orchestrator{{URL: "http://b:1", Priority: 2}, {URL: "http://a:1", Priority: 1}}
	if _, err := worker.New(worker.Config{Token: token, Orchestrators: os, Logger: quiet()}); err != nil {
		t.Fatal(err)
	}
	if os[0].URL != "http://b:1" {
		t.Errorf("New reordered the caller's orchestrators: %+v", os)
	}
}

// fakeOffload records the configuration it was made from.
type fakeOffload struct{ cfg worker.Config }

func (f *fakeOffload) Download(context.Context, *worker.Task) error { return nil }
func (f *fakeOffload) Upload(context.Context, *worker.Task, map[string]any) (map[string]wire.FileMetadata, error) {
	return nil, nil
}
func (f *fakeOffload) ConfigHash() string { return "hash-of-" + f.cfg.S3.Bucket }

// TestNewOffload: S3_ENDPOINT_URL needs an offload to use it; the offload
// is made from the configuration with its defaults filled in, and its
// hash is sent at registration.
func TestNewOffload(t *testing.T) {
	t.Parallel()
	s3 := worker.S3Config{Endpoint: "http://s3:9000", AccessKey: "k", SecretKey: "s"}
	base := worker.Config{Token: "t", Orchestrators: []worker.Orchestrator{{URL: "http://o:1"}}, Logger: quiet(), S3: s3}
	if _, err := worker.New(base); err == nil || !strings.Contains(err.Error(), "S3_ENDPOINT_URL") || !strings.Contains(err.Error(), "NewOffload") {
		t.Errorf("S3 endpoint without an offload: %v; want an error naming S3_ENDPOINT_URL and NewOffload", err)
	}
	refused := base
	refused.NewOffload = func(worker.Config) (worker.Offload, error) { return nil, errors.New("S3_SECRET_KEY is wrong") }
	if _, err := worker.New(refused); err == nil || !strings.Contains(err.Error(), "S3_SECRET_KEY is wrong") {
		t.Errorf("offload refused: %v; want its error", err)
	}

	regs := make(chan wire.Registration, 4)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == wire.RouteRegister {
			var reg wire.Registration
			_ = json.NewDecoder(r.Body).Decode(&reg)
			regs <- reg
		}
		if r.Method == http.MethodGet {
			<-r.Context().Done() // a long poll that never yields a task
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"ok"}`)
	}))
	defer ts.Close()
	var made *fakeOffload
	cfg := base
	cfg.Orchestrators = []worker.Orchestrator{{URL: ts.URL}}
	cfg.PayloadDir = t.TempDir()
	cfg.NewOffload = func(c worker.Config) (worker.Offload, error) { made = &fakeOffload{c}; return made, nil }
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if made == nil || made.cfg.S3.Bucket != "avtomatika-payloads" || made.cfg.S3.Region != "us-east-1" || made.cfg.WorkerID == "" {
		t.Fatalf("offload made from %+v; want the configuration with its defaults", made)
	}
	w.Handle("noop", func(context.Context, *worker.Task) (worker.Result, error) { return worker.Result{}, nil })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	select {
	case reg := <-regs:
		if reg.Capabilities.S3ConfigHash != "hash-of-avtomatika-payloads" {
			t.Errorf("s3_config_hash %q, want the offload's", reg.Capabilities.S3ConfigHash)
		}
	case <-time.After(10 * time.Second):
		t.Error("no registration")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
