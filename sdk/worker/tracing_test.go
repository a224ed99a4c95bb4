package worker_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
	"github.com/avtomatika-ai/avtomatika-go/sdk/worker"
)

const orchTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// tracingOrchestrator hands out one task with a traceparent and passes on
// the bodies of events and results.
func tracingOrchestrator(t *testing.T) (url string, events, results chan map[string]any) {
	events, results = make(chan map[string]any, 4), make(chan map[string]any, 4)
	var handed atomic.Bool // the worker may poll on several connections at once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(b, &body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == wire.RouteRegister:
			io.WriteString(w, `{"status":"registered"}`)
		case r.Method == http.MethodPatch:
			io.WriteString(w, `{"status":"ok"}`)
		case strings.HasSuffix(r.URL.Path, "/tasks/next"):
			if !handed.CompareAndSwap(false, true) {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"job_id": "job-1", "task_id": "task-1", "type": "traced",
				"params": map[string]any{}, "tracing_context": map[string]any{"traceparent": orchTraceparent}})
		case r.URL.Path == wire.RouteEvents:
			events <- body
			io.WriteString(w, `{"status":"event_accepted"}`)
		case r.URL.Path == wire.RouteResult:
			results <- body
			io.WriteString(w, `{"status":"accepted","transition":"success_transition"}`)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL, events, results
}

func recv(t *testing.T, ch chan map[string]any, what string) map[string]any {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s after 10 s", what)
	}
	return nil
}

// With a TracerProvider the handler runs in a span whose parent is the
// task's traceparent; the event and the result carry that span's context.
func TestHandlerSpanIsChildOfTheTask(t *testing.T) {
	t.Parallel()
	url, events, results := tracingOrchestrator(t)
	exp := tracetest.NewInMemoryExporter()
	cfg := fastConfig(t, url)
	cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	w, err := worker.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var inHandler trace.SpanContext
	w.Handle("traced", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		inHandler = trace.SpanContextFromContext(ctx)
		return worker.Result{}, task.Progress(ctx, 0.5, "half")
	})
	run(t, w)
	ev := recv(t, events, "event")
	res := recv(t, results, "result")
	if inHandler.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || inHandler.SpanID().String() == "00f067aa0ba902b7" {
		t.Fatalf("handler's span %v: want a new span in the task's trace", inHandler)
	}
	want := "00-4bf92f3577b34da6a3ce929d0e0e4736-" + inHandler.SpanID().String() + "-01"
	if tc, _ := res["tracing_context"].(map[string]any); tc["traceparent"] != want {
		t.Errorf("result tracing_context %v, want traceparent %s", res["tracing_context"], want)
	}
	if tc, _ := ev["trace_context"].(map[string]any); tc["traceparent"] != want {
		t.Errorf("event trace_context %v, want traceparent %s", ev["trace_context"], want)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(exp.GetSpans()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].Name != "task traced" || spans[0].Parent.SpanID().String() != "00f067aa0ba902b7" || spans[0].SpanContext.SpanID() != inHandler.SpanID() {
		t.Fatalf("spans %+v", spans)
	}
}

// Without a provider the handler's context carries the task's own span
// context, and the result hands it back.
func TestHandlerContextWithoutProvider(t *testing.T) {
	t.Parallel()
	url, _, results := tracingOrchestrator(t)
	w, err := worker.New(fastConfig(t, url))
	if err != nil {
		t.Fatal(err)
	}
	var inHandler trace.SpanContext
	w.Handle("traced", func(ctx context.Context, task *worker.Task) (worker.Result, error) {
		inHandler = trace.SpanContextFromContext(ctx)
		return worker.Result{}, nil
	})
	run(t, w)
	res := recv(t, results, "result")
	if !inHandler.IsRemote() || inHandler.SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("handler's span context %v", inHandler)
	}
	if tc, _ := res["tracing_context"].(map[string]any); tc["traceparent"] != orchTraceparent {
		t.Errorf("result tracing_context %v", res["tracing_context"])
	}
}
