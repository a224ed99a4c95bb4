package s3offload_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/sdk/client"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker/s3offload"
)

const token = "s3-test-token"

const s3Blueprint = `name: s3_transform
endpoint: /jobs/s3_transform
input:
  type: object
  properties:
    src: {type: string}
    more: {type: object}
start: work
states:
  work:
    task:
      type: transform
      params:
        src: ${{ input.src }}
        more: ${{ input.more }}
      timeout: 60s
    transitions:
      success: done
      failure: failed
  done: {end: success}
  failed: {end: failure}
`

// fakeS3 serves an in-memory S3 over HTTP on loopback and returns its
// URL and a client of it.
func fakeS3(t *testing.T) (string, *s3.Client) {
	t.Helper()
	ts := httptest.NewServer(gofakes3.New(s3mem.New()).Server())
	t.Cleanup(ts.Close)
	cli := s3.New(s3.Options{
		BaseEndpoint: aws.String(ts.URL), Region: "us-east-1", UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider("key", "secret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
	if _, err := cli.CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String("payloads")}); err != nil {
		t.Fatal(err)
	}
	return ts.URL, cli
}

func put(t *testing.T, cli *s3.Client, key, body string) {
	t.Helper()
	_, err := cli.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("payloads"), Key: aws.String(key), Body: strings.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, cli *s3.Client, key string) (string, error) {
	t.Helper()
	out, err := cli.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String("payloads"), Key: aws.String(key)})
	if err != nil {
		return "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return string(b), err
}

// orchestratorWith serves the given blueprint files on loopback.
func orchestratorWith(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := config.Default()
	cfg.BlueprintsDir = dir
	cfg.GlobalWorkerToken = token
	cfg.PollTimeout = time.Second
	srv, err := server.New(server.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = srv.Run(ctx, l, 5*time.Second); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + l.Addr().String()
}

// seen is what the transform handler observed, sent once per task.
type seen struct {
	taskDir string
	src     string
	content string
	nested  string
	err     error
}

func TestS3Offload(t *testing.T) {
	t.Parallel()
	s3URL, cli := fakeS3(t)
	put(t, cli, "in/photo.txt", "pixels")
	put(t, cli, "in/deep/notes.txt", "nested notes")
	url := orchestratorWith(t, map[string]string{"s3.yaml": s3Blueprint})
	payloads := t.TempDir()
	outside := filepath.Join(t.TempDir(), "elsewhere.txt")
	if err := os.WriteFile(outside, []byte("not mine"), 0o644); err != nil {
		t.Fatal(err)
	}

	f, proxied := recordResults(t, url)
	w, err := worker.New(worker.Config{
		WorkerID: "s3-worker", Token: token, Orchestrators: []worker.Orchestrator{{URL: proxied}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), PollTimeout: time.Second,
		RetryInitial: 50 * time.Millisecond, RetryMax: 500 * time.Millisecond, ShutdownTimeout: 2 * time.Second,
		PayloadDir: payloads,
		S3:         worker.S3Config{Endpoint: s3URL, AccessKey: "key", SecretKey: "secret", Bucket: "payloads"},
		NewOffload: s3offload.New,
	})
	if err != nil {
		t.Fatal(err)
	}
	obs := make(chan seen, 4)
	w.Handle("transform", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		var s seen
		s.taskDir = task.PayloadDir
		s.src, _ = task.Params["src"].(string)
		b, err := os.ReadFile(s.src)
		s.content, s.err = string(b), err
		more, _ := task.Params["more"].(map[string]any)
		list, _ := more["files"].([]any)
		if len(list) == 1 {
			s.nested, _ = list[0].(string)
		}
		obs <- s
		if more["leak"] == true {
			return worker.Result{Data: map[string]any{"out": outside}}, nil
		}
		out := filepath.Join(task.PayloadDir, "result.txt")
		if err := os.WriteFile(out, []byte(strings.ToUpper(s.content)), 0o644); err != nil {
			return worker.Result{}, err
		}
		return worker.Result{Data: map[string]any{"out": out, "note": "plain text stays"}}, nil
	})
	run(t, w)
	c := newClient(t, url)
	ctx := context.Background()

	id, err := c.Start(ctx, "/jobs/s3_transform", map[string]any{
		"src":  "s3://payloads/in/photo.txt",
		"more": map[string]any{"files": []any{"s3://payloads/in/deep/notes.txt"}},
	}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	j := wait(t, c, id)
	if j.Status != wire.StatusFinished {
		t.Fatalf("job ended %s (error %+v), want finished", j.Status, j.Error)
	}
	s := <-obs
	if s.err != nil || s.content != "pixels" {
		t.Errorf("handler read %q (err %v) from %q, want the downloaded object", s.content, s.err, s.src)
	}
	if filepath.Dir(s.src) != s.taskDir || !strings.HasPrefix(s.taskDir, payloads+string(filepath.Separator)) {
		t.Errorf("downloaded to %q, want a file in the task folder %q under %q", s.src, s.taskDir, payloads)
	}
	if b, err := os.ReadFile(s.nested); err == nil {
		t.Errorf("nested param %q still readable after the task: want the task folder removed (read %q)", s.nested, b)
	}
	if filepath.Base(s.nested) != "notes.txt" {
		t.Errorf("nested param became %q, want a local path ending notes.txt", s.nested)
	}
	if _, err := os.Stat(s.taskDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("task folder %s: %v, want it removed after the task", s.taskDir, err)
	}
	if got, err := get(t, cli, id+"/result.txt"); err != nil || got != "PIXELS" {
		t.Errorf("uploaded result s3://payloads/%s/result.txt = %q, %v; want PIXELS", id, got, err)
	}
	res, err := json.Marshal(j.Result)
	if err != nil {
		t.Fatal(err)
	}
	if uri := "s3://payloads/" + id + "/result.txt"; !bytes.Contains(res, []byte(uri)) || bytes.Contains(res, []byte(payloads)) {
		t.Errorf("job result %s: want the data to name %s and no local path", res, uri)
	}

	results := f.snapshot()
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	meta, ok := results[0].DataMetadata["out"]
	if !ok || meta.URI != "s3://payloads/"+id+"/result.txt" || meta.Size != int64(len("PIXELS")) || meta.ETag == "" {
		t.Errorf("data_metadata %+v, want out: the URI, size 6 and the ETag", results[0].DataMetadata)
	}
	if _, ok := results[0].DataMetadata["note"]; ok {
		t.Errorf("data_metadata describes a plain text member: %+v", results[0].DataMetadata)
	}

	// A result naming a file outside the payload folder is refused and
	// the file is not uploaded.
	id2, err := c.Start(ctx, "/jobs/s3_transform", map[string]any{
		"src": "s3://payloads/in/photo.txt", "more": map[string]any{"leak": true},
	}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-obs
	j2 := wait(t, c, id2)
	if j2.Status == wire.StatusFinished {
		t.Fatalf("job naming %s in its result finished; want it failed", outside)
	}
	if j2.Error == nil || !strings.Contains(j2.Error.Message, "outside the payload folder") {
		t.Errorf("job error %+v, want it to say the path is outside the payload folder", j2.Error)
	}
	if _, err := get(t, cli, id2+"/elsewhere.txt"); err == nil {
		t.Errorf("a file outside the payload folder was uploaded")
	}

	// A missing object fails the task without calling the handler.
	id3, err := c.Start(ctx, "/jobs/s3_transform", map[string]any{"src": "s3://payloads/in/missing.bin"}, client.StartOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if j3 := wait(t, c, id3); j3.Status == wire.StatusFinished {
		t.Errorf("job with a missing S3 object finished; want it failed")
	}
	select {
	case s := <-obs:
		t.Errorf("handler called for a task whose payload could not be downloaded: %+v", s)
	default:
	}
}

// recorder is a loopback proxy in front of an orchestrator that keeps
// the results the worker posts.
type recorder struct {
	mu      sync.Mutex
	results []wire.Result
	proxy   *httputil.ReverseProxy
}

func recordResults(t *testing.T, target string) (*recorder, string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	f := &recorder{proxy: httputil.NewSingleHostReverseProxy(u)}
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	return f, ts.URL
}

func (f *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.Path == wire.RouteResult {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		var res wire.Result
		_ = json.Unmarshal(body, &res)
		f.mu.Lock()
		f.results = append(f.results, res)
		f.mu.Unlock()
	}
	f.proxy.ServeHTTP(w, r)
}

func (f *recorder) snapshot() []wire.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]wire.Result(nil), f.results...)
}

// run starts w and stops it at cleanup, failing if Run does not return.
func run(t *testing.T, w *worker.Worker) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after shutdown")
		}
	})
}

func newClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wait(t *testing.T, c *client.Client, id string) *client.Job {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	j, err := c.Wait(ctx, id)
	if err != nil {
		t.Fatalf("wait %s: %v", id, err)
	}
	return j
}

func TestNew(t *testing.T) {
	t.Parallel()
	if o, err := s3offload.New(worker.Config{}); o != nil || err != nil {
		t.Errorf("no endpoint: %v, %v; want no offload and no error", o, err)
	}
	_, err := s3offload.New(worker.Config{S3: worker.S3Config{Endpoint: "http://s3:9000", AccessKey: "k"}})
	if err == nil || !strings.Contains(err.Error(), "S3_SECRET_KEY") {
		t.Errorf("endpoint without a secret key: %v; want an error naming S3_SECRET_KEY", err)
	}
	o, err := s3offload.New(worker.Config{S3: worker.S3Config{Endpoint: "http://s3:9000", AccessKey: "k", SecretKey: "s", Region: "r", Bucket: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	// The first 16 hex digits of SHA-256("http://s3:9000|k|b").
	if got, want := o.ConfigHash(), s3offload.ConfigHash("http://s3:9000", "k", "b"); got != want || got != "8d4b9eb92a4d53c9" {
		t.Errorf("config hash %q, want %q", got, want)
	}
}
