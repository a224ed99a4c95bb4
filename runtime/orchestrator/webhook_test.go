package orchestrator

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
)

// verify is what an endpoint does with a delivery (docs/operations.md
// shows the same in Go and Python): recompute the HMAC over the timestamp,
// a dot and the raw body, compare in constant time, refuse stale ones.
func verify(secret string, r *http.Request, body []byte, now time.Time) bool {
	ts := r.Header.Get("X-Avtomatika-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || now.Sub(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(r.Header.Get("X-Avtomatika-Signature")))
}

type delivery struct {
	key, sig string
	ok       bool
	body     map[string]any
}

// endpoint answers each try with the next status of answers (the last one
// repeats) and records what it got.
type endpoint struct {
	mu      sync.Mutex
	got     []delivery
	answers []int
	secret  string
	arrived chan struct{}
}

func newEndpoint(t *testing.T, secret string, answers ...int) (*endpoint, *httptest.Server) {
	e := &endpoint{answers: answers, secret: secret, arrived: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		e.mu.Lock()
		e.got = append(e.got, delivery{key: r.Header.Get("Idempotency-Key"), sig: r.Header.Get("X-Avtomatika-Signature"), ok: verify(e.secret, r, b, time.Now()), body: body})
		code := e.answers[min(len(e.got), len(e.answers))-1]
		e.mu.Unlock()
		w.WriteHeader(code)
		e.arrived <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return e, srv
}

const quickBP = `name: quick
endpoint: /jobs/quick
start: done
states:
  done: {end: success}
`

func webhookOrchestrator(t *testing.T, st store.Store, cfg func(*config.Config), secrets func(string) string) *Orchestrator {
	t.Helper()
	set, ds := lang.LoadFS(fstest.MapFS{"quick.yaml": {Data: []byte(quickBP)}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	c := config.Default()
	c.BlueprintsDir = ""
	c.WebhookTimeout = time.Second
	if cfg != nil {
		cfg(&c)
	}
	x, err := New(Options{Config: c, Store: st, Blueprints: set, WebhookBackoff: 5 * time.Millisecond, WebhookSecret: secrets})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := x.Start(ctx)
	t.Cleanup(func() { cancel(); <-stopped; x.Close() })
	return x
}

func timelineTypes(t *testing.T, x *Orchestrator, id string) map[string]core.TimelineEvent {
	t.Helper()
	tl, err := x.store.Timeline(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]core.TimelineEvent{}
	for _, e := range tl {
		out[e.Type] = e
	}
	return out
}

// waitTimeline waits for an entry of the type on the job's timeline.
func waitTimeline(t *testing.T, x *Orchestrator, id, typ string) core.TimelineEvent {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if e, ok := timelineTypes(t, x, id)[typ]; ok {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s on the timeline of %s: %v", typ, id, timelineTypes(t, x, id))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestWebhookSignedRetriedDelivered(t *testing.T) {
	ctx := context.Background()
	ep, srv := newEndpoint(t, "client-secret", 500, 503, 200)
	x := webhookOrchestrator(t, memstore.New(memstore.Options{}), nil, func(c string) string {
		if c == "acme" {
			return "client-secret"
		}
		return ""
	})
	j, _, err := x.Create(ctx, &config.Client{Name: "acme"}, x.reg.Current("quick"), CreateRequest{WebhookURL: srv.URL, Metadata: map[string]any{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	e := waitTimeline(t, x, j.ID, "webhook_delivered")
	if e.Detail["attempts"] != 3 && e.Detail["attempts"] != float64(3) {
		t.Fatalf("delivered after %v tries, want 3", e.Detail["attempts"])
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if len(ep.got) != 3 {
		t.Fatalf("%d tries", len(ep.got))
	}
	for i, d := range ep.got {
		if !d.ok || d.key != j.ID+":job_finished" || d.body["job_id"] != j.ID || d.body["status"] != "finished" {
			t.Errorf("try %d: %+v", i+1, d)
		}
	}
}

func TestWebhookFailsAfterMaxAttempts(t *testing.T) {
	ctx := context.Background()
	ep, srv := newEndpoint(t, "server-secret", 500)
	x := webhookOrchestrator(t, memstore.New(memstore.Options{}), func(c *config.Config) {
		c.WebhookMaxAttempts = 3
		c.WebhookSecret = "server-secret"
	}, nil)
	j, _, err := x.Create(ctx, nil, x.reg.Current("quick"), CreateRequest{WebhookURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	e := waitTimeline(t, x, j.ID, "webhook_failed")
	if e.Detail["error"] != "HTTP 500 Internal Server Error" || e.Detail["url"] != srv.URL {
		t.Fatalf("failure: %v", e.Detail)
	}
	// No try after the last.
	time.Sleep(100 * time.Millisecond)
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if len(ep.got) != 3 || !ep.got[0].ok {
		t.Fatalf("%d tries (%+v), want 3 signed", len(ep.got), ep.got)
	}
	if _, ok := timelineTypes(t, x, j.ID)["webhook_delivered"]; ok {
		t.Fatal("a failed delivery is also delivered")
	}
}

func TestWebhookUnsignedWithoutSecret(t *testing.T) {
	ctx := context.Background()
	ep, srv := newEndpoint(t, "", 204)
	x := webhookOrchestrator(t, memstore.New(memstore.Options{}), nil, nil)
	j, _, err := x.Create(ctx, nil, x.reg.Current("quick"), CreateRequest{WebhookURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	waitTimeline(t, x, j.ID, "webhook_delivered")
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if len(ep.got) != 1 || ep.got[0].sig != "" {
		t.Fatalf("tries %+v", ep.got)
	}
}

func TestSignWebhookVector(t *testing.T) {
	// Python: hmac.new(b"secret", b"1700000000.{}", hashlib.sha256).hexdigest()
	if got, want := SignWebhook("secret", 1700000000, []byte("{}")), "v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163"; got != want {
		t.Fatalf("%s, want %s", got, want)
	}
}
