package telemetry_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/runtime/telemetry"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const bp = `name: order
endpoint: /jobs/order
start: check
states:
  check:
    task: {type: check_stock, retries: 1}
    transitions: {success: pause, failure: failed}
  pause: {wait: 1ms, go_to: done}
  done: {end: success}
  failed: {end: failure}
`

const parentTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// runJob runs one job of bp through the orchestrator with the tracer: a
// failed first attempt, a successful second, a wait, the end.
func runJob(t *testing.T, tr orchestrator.Tracing) (jobID string, contexts []map[string]any) {
	t.Helper()
	ctx := context.Background()
	set, ds := lang.LoadFS(fstest.MapFS{"order.yaml": {Data: []byte(bp)}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	cfg := config.Default()
	cfg.BlueprintsDir = ""
	x, err := orchestrator.New(orchestrator.Options{Config: cfg, Store: memstore.New(memstore.Options{}), Blueprints: set, Tracing: tr})
	if err != nil {
		t.Fatal(err)
	}
	loops, stop := context.WithCancel(ctx)
	stopped := x.Start(loops)
	defer func() { stop(); <-stopped; x.Close() }()
	if err := x.Register(ctx, orchestrator.Registration{WorkerID: "w1", Skills: []string{"check_stock"}}); err != nil {
		t.Fatal(err)
	}
	j, w, err := x.Create(ctx, nil, set.Lookup("order"), orchestrator.CreateRequest{TraceParent: parentTP, Watch: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, status := range []string{wire.ResultFailure, wire.ResultSuccess} {
		p, err := x.Poll(ctx, "w1", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tk, err := x.Lease(ctx, p)
		if err != nil || tk == nil {
			t.Fatalf("lease: %v %v", tk, err)
		}
		contexts = append(contexts, tk.TracingContext)
		r := orchestrator.TaskResult{JobID: j.ID, TaskID: tk.ID, Status: status}
		if status == wire.ResultFailure {
			r.Error = &wire.Error{Code: wire.CodeTransientError, Message: "flaky"}
		}
		if _, err := x.Result(ctx, "w1", r); err != nil {
			t.Fatal(err)
		}
	}
	end, err := w.Until(ctx, j, 20*time.Second)
	if err != nil || !end.Status.Terminal() {
		t.Fatalf("job did not end: %v %v", end, err)
	}
	return j.ID, contexts
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.Emit()
	}
	return m
}

func TestSpansOfAJob(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewProvider(sdktrace.WithSyncer(exp))
	jobID, contexts := runJob(t, telemetry.New(tp))
	spans := exp.GetSpans()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans {
		byName[s.Name] = append(byName[s.Name], s)
	}
	var names []string
	for n, ss := range byName {
		names = append(names, n+"×"+string(rune('0'+len(ss))))
	}
	sort.Strings(names)
	if got := strings.Join(names, " "); got != "job order×1 state check×1 state done×1 state pause×1 task check_stock×2" {
		t.Fatalf("spans: %s", got)
	}
	job := byName["job order"][0]
	if job.Parent.SpanID().String() != "00f067aa0ba902b7" || job.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("job span's parent %v, want the traceparent of the request", job.Parent)
	}
	a := attrs(job.Attributes)
	if a["avtomatika.blueprint"] != "order" || a["avtomatika.outcome"] != "finished" || a["avtomatika.job.id"] != jobID || a["avtomatika.blueprint.version"] == "" {
		t.Errorf("job attributes %v", a)
	}
	for _, name := range []string{"state check", "state pause", "state done"} {
		s := byName[name][0]
		if s.Parent.SpanID() != job.SpanContext.SpanID() || s.SpanContext.TraceID() != job.SpanContext.TraceID() {
			t.Errorf("%s: parent %v, want the job span", name, s.Parent.SpanID())
		}
		if attrs(s.Attributes)["avtomatika.start_approximate"] != "" {
			t.Errorf("%s: start approximate on one instance", name)
		}
		if s.EndTime.Before(s.StartTime) || s.StartTime.Before(job.StartTime) || s.EndTime.After(job.EndTime) {
			t.Errorf("%s: %v..%v outside the job's %v..%v", name, s.StartTime, s.EndTime, job.StartTime, job.EndTime)
		}
	}
	check := byName["state check"][0]
	for i, s := range byName["task check_stock"] {
		a := attrs(s.Attributes)
		if s.Parent.SpanID() != check.SpanContext.SpanID() {
			t.Errorf("attempt %d: parent %v, want the state span", i+1, s.Parent.SpanID())
		}
		// The span the worker was told of is this span.
		tp := contexts[0]["traceparent"]
		if a["avtomatika.task.attempt"] == "2" {
			tp = contexts[1]["traceparent"]
		}
		if want := "00-" + s.SpanContext.TraceID().String() + "-" + s.SpanContext.SpanID().String() + "-01"; tp != want {
			t.Errorf("attempt %s: tracing_context %v, span %s", a["avtomatika.task.attempt"], tp, want)
		}
		if a["avtomatika.task.type"] != "check_stock" || a["avtomatika.worker.id"] != "w1" || a["avtomatika.state"] != "check" {
			t.Errorf("attempt attributes %v", a)
		}
		switch a["avtomatika.task.attempt"] {
		case "1":
			if a["avtomatika.outcome"] != "failure" || a["avtomatika.error.code"] != "TRANSIENT_ERROR" || s.Status.Code.String() != "Error" {
				t.Errorf("first attempt %v %v", a, s.Status)
			}
		case "2":
			if a["avtomatika.outcome"] != "success" {
				t.Errorf("second attempt %v", a)
			}
		default:
			t.Errorf("attempt %v", a)
		}
	}
}

// otlpReceiver decodes the OTLP protobuf of POST /v1/traces and keeps
// the span names.
type otlpReceiver struct {
	mu    sync.Mutex
	names []string
	coltrace.UnimplementedTraceServiceServer
}

func (r *otlpReceiver) keep(req *coltrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		svc := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == "service.name" {
				svc = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.names = append(r.names, svc+"/"+s.Name)
			}
		}
	}
}

func (r *otlpReceiver) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	r.keep(req)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "want POST /v1/traces of application/x-protobuf", http.StatusBadRequest)
		return
	}
	b, _ := io.ReadAll(req.Body)
	var m coltrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.keep(&m)
	out, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

func (r *otlpReceiver) got() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := append([]string(nil), r.names...)
	sort.Strings(n)
	return strings.Join(n, " ")
}

const wantExported = "svc-test/job order svc-test/state check svc-test/state done svc-test/state pause svc-test/task check_stock svc-test/task check_stock"

func TestExportOTLPHTTP(t *testing.T) {
	recv := &otlpReceiver{}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_SERVICE_NAME": "svc-test"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	tr, stop, err := telemetry.Setup(context.Background(), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || tr == nil {
		t.Fatalf("setup: %v %v", tr, err)
	}
	runJob(t, tr)
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := recv.got(); got != wantExported {
		t.Fatalf("exported %q, want %q", got, wantExported)
	}
}

func TestExportOTLPGRPC(t *testing.T) {
	recv := &otlpReceiver{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(gs, recv)
	go gs.Serve(l)
	defer gs.Stop()
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + l.Addr().String(), "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_SERVICE_NAME": "svc-test"}
	for k, v := range env {
		t.Setenv(k, v)
	}
	tr, stop, err := telemetry.Setup(context.Background(), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil || tr == nil {
		t.Fatalf("setup: %v %v", tr, err)
	}
	runJob(t, tr)
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := recv.got(); got != wantExported {
		t.Fatalf("exported %q, want %q", got, wantExported)
	}
}

func TestSetupOffAndErrors(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		on   bool
		fail string
	}{
		{map[string]string{}, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "OTEL_TRACES_EXPORTER"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, false, "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
	} {
		tr, stop, err := telemetry.Setup(context.Background(), func(k string) (string, bool) { v, ok := c.env[k]; return v, ok })
		if (tr != nil) != c.on || (c.fail == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.fail)) {
			t.Errorf("%v: tracer %v, err %v", c.env, tr != nil, err)
		}
		_ = stop(context.Background())
	}
}
