// Package telemetry traces jobs with OpenTelemetry: a span for each job,
// each state a job enters and each task attempt, exported over OTLP as
// the standard OTEL_* variables say. Tracing is off unless they ask for
// it; the orchestrator then calls nothing here.
//
// Spans are written when what they cover ends (a state when the job leaves
// it, an attempt when its result or timeout is committed, the job when it
// ends), with the start time of what they cover, so any instance of a
// deployment can write them. Their ids are derived from the job and task
// ids, so every instance names the same span the same way: the trace
// context a task carries to its worker (tracing_context.traceparent)
// names the attempt's span before the span is written. The trace is the
// one of the traceparent the job was created with, when it had one.
package telemetry

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Attribute keys of the spans.
const (
	AttrJobID     = attribute.Key("avtomatika.job.id")
	AttrBlueprint = attribute.Key("avtomatika.blueprint")
	AttrVersion   = attribute.Key("avtomatika.blueprint.version")
	AttrState     = attribute.Key("avtomatika.state")
	AttrTaskID    = attribute.Key("avtomatika.task.id")
	AttrTaskType  = attribute.Key("avtomatika.task.type")
	AttrAttempt   = attribute.Key("avtomatika.task.attempt")
	AttrWorker    = attribute.Key("avtomatika.worker.id")
	AttrOutcome   = attribute.Key("avtomatika.outcome")
	AttrErrorCode = attribute.Key("avtomatika.error.code")
	// AttrApproximate marks a span whose start this instance did not see
	// (it starts at the job's previous commit instead).
	AttrApproximate = attribute.Key("avtomatika.start_approximate")
)

// MetadataKey is the job metadata key that keeps the traceparent a job
// was created with (only when tracing is on).
const MetadataKey = "traceparent"

// maxOpen bounds the start times of states and leases an instance keeps;
// past it they are forgotten (those spans then start approximately).
const maxOpen = 100_000

// Tracer writes the spans of jobs. Its methods are safe for concurrent
// use and never block on the export.
type Tracer struct {
	tr trace.Tracer

	mu     sync.Mutex
	states map[string]time.Time // job id + visit -> when entered here
	leases map[string]time.Time // task id -> when leased here
}

// New returns a Tracer writing to tp, which must make its ids with
// IDGenerator (NewProvider does).
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{tr: tp.Tracer("github.com/avtomatika-ai/avtomatika-go/runtime"),
		states: map[string]time.Time{}, leases: map[string]time.Time{}}
}

// NewProvider is an SDK TracerProvider with the ids this package needs.
func NewProvider(opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	return sdktrace.NewTracerProvider(append(opts, sdktrace.WithIDGenerator(IDGenerator{}))...)
}

// Setup reads the standard variables and returns the Tracer and a
// function that flushes and stops the export, or nil and a no-op when
// tracing is off. Tracing is on when OTEL_TRACES_EXPORTER is otlp, or it
// is unset and OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set; OTEL_SDK_DISABLED=true turns
// it off. The protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL or
// OTEL_EXPORTER_OTLP_PROTOCOL: http/protobuf (default) or grpc. The
// exporter reads its own variables (endpoint, headers, timeout,
// certificates), the SDK its sampler (OTEL_TRACES_SAMPLER) and batching
// (OTEL_BSP_*), the resource OTEL_SERVICE_NAME (default avtomatika) and
// OTEL_RESOURCE_ATTRIBUTES.
func Setup(ctx context.Context, env func(string) (string, bool)) (*Tracer, func(context.Context) error, error) {
	get := func(k string) string { v, _ := env(k); return strings.TrimSpace(v) }
	nop := func(context.Context) error { return nil }
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return nil, nop, nil
	}
	switch exp := strings.ToLower(get("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return nil, nop, nil
	case "":
		if get("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, nop, nil
		}
	case "otlp":
	default:
		return nil, nop, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: want otlp or none", exp)
	}
	proto, name := get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	if proto == "" {
		proto, name = get("OTEL_EXPORTER_OTLP_PROTOCOL"), "OTEL_EXPORTER_OTLP_PROTOCOL"
	}
	var exp sdktrace.SpanExporter
	var err error
	switch proto {
	case "", "http/protobuf":
		exp, err = otlptracehttp.New(ctx)
	case "grpc":
		exp, err = otlptracegrpc.New(ctx)
	default:
		return nil, nop, fmt.Errorf("%s=%q: want http/protobuf or grpc", name, proto)
	}
	if err != nil {
		return nil, nop, fmt.Errorf("OTLP trace exporter: %w", err)
	}
	res, err := resource.Merge(resource.NewSchemaless(attribute.String("service.name", "avtomatika")), resource.Environment())
	if err != nil {
		res = resource.Environment()
	}
	tp := NewProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return New(tp), tp.Shutdown, nil
}

// ---- ids ----

type idsKey struct{}

type forced struct {
	trace trace.TraceID
	span  trace.SpanID
}

// IDGenerator makes the span ids this package asks for (through the
// context), and random ones otherwise.
type IDGenerator struct{}

// NewIDs implements sdktrace.IDGenerator.
func (IDGenerator) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	if f, ok := ctx.Value(idsKey{}).(forced); ok {
		return f.trace, f.span
	}
	var t trace.TraceID
	var s trace.SpanID
	_, _ = rand.Read(t[:])
	_, _ = rand.Read(s[:])
	return t, s
}

// NewSpanID implements sdktrace.IDGenerator.
func (IDGenerator) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	if f, ok := ctx.Value(idsKey{}).(forced); ok {
		return f.span
	}
	var s trace.SpanID
	_, _ = rand.Read(s[:])
	return s
}

func hash(parts ...string) [32]byte {
	return sha256.Sum256([]byte(strings.Join(parts, "\x00")))
}

func spanID(parts ...string) trace.SpanID {
	h := hash(parts...)
	var s trace.SpanID
	copy(s[:], h[:8])
	if !s.IsValid() {
		s[7] = 1
	}
	return s
}

// traceOf is the job's trace: the one of the traceparent it was created
// with, else one derived from its id; parent is that traceparent's span.
func traceOf(j *core.Job) (tid trace.TraceID, parent trace.SpanContext) {
	if tp, ok := j.Metadata[MetadataKey].(string); ok {
		if sc := ParseTraceparent(tp); sc.IsValid() {
			return sc.TraceID(), sc
		}
	}
	h := hash("trace", j.ID)
	copy(tid[:], h[:16])
	return tid, trace.SpanContext{}
}

// ParseTraceparent reads a W3C traceparent; the zero SpanContext when it
// is not one.
func ParseTraceparent(s string) trace.SpanContext {
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": s})
	return trace.SpanContextFromContext(ctx)
}

func traceparent(tid trace.TraceID, sid trace.SpanID) string {
	return "00-" + tid.String() + "-" + sid.String() + "-01"
}

func jobSpan(j *core.Job) trace.SpanID { return spanID("job", j.ID) }

// visit names one stay of a job in a state: the job's Steps right after
// it entered it.
func visit(jobID string, steps int) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(steps))
	return jobID + "\x00" + string(b[:])
}

func stateSpan(jobID, state string, steps int) trace.SpanID {
	return spanID("state", visit(jobID, steps), state)
}

func attemptSpan(taskID string) trace.SpanID { return spanID("task", taskID) }

// ---- hooks ----

// TaskContext is the tracing_context of a task about to be queued: the
// traceparent of its attempt's span, child of the state's span.
func (t *Tracer) TaskContext(j *core.Job, task *core.Task) map[string]any {
	tid, _ := traceOf(j)
	return map[string]any{"traceparent": traceparent(tid, attemptSpan(task.ID))}
}

// Leased notes when a task was leased here: its attempt's span starts
// there.
func (t *Tracer) Leased(task *core.Task, at time.Time) {
	t.mu.Lock()
	if len(t.leases) >= maxOpen {
		clear(t.leases) // what ended elsewhere: start afresh
	}
	t.leases[task.ID] = at
	t.mu.Unlock()
}

// JobMetadata returns the metadata of a job being created with a
// traceparent: the traceparent kept under MetadataKey when it is valid.
func (t *Tracer) JobMetadata(md map[string]any, tp string) map[string]any {
	if tp == "" || !ParseTraceparent(tp).IsValid() {
		return md
	}
	out := make(map[string]any, len(md)+1)
	for k, v := range md {
		out[k] = v
	}
	out[MetadataKey] = tp
	return out
}

// Committed writes the spans a commit ended: the attempt whose result or
// timeout it took, the states the job left, and the job when it ended.
// prev is the job before the step (nil for a new one), now the commit's
// time.
func (t *Tracer) Committed(prev, j *core.Job, ev core.Event, eff *core.Effects, now time.Time) {
	tid, parent := traceOf(j)
	jobCtx := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: jobSpan(j), TraceFlags: trace.FlagsSampled, Remote: true}))
	stateCtx := func(state string, steps int) context.Context {
		return trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: tid, SpanID: stateSpan(j.ID, state, steps), TraceFlags: trace.FlagsSampled, Remote: true}))
	}
	common := []attribute.KeyValue{AttrJobID.String(j.ID), AttrBlueprint.String(j.Blueprint), AttrVersion.String(j.Version)}
	prevStart := j.CreatedAt
	if prev != nil && !prev.UpdatedAt.IsZero() {
		prevStart = prev.UpdatedAt
	}

	// The attempt.
	if prev != nil && (ev.Kind == core.EventTaskResult || ev.Kind == core.EventTaskTimeout || ev.Kind == core.EventDispatchTimeout) {
		for _, ref := range prev.Tasks.All() {
			if ref.ID != ev.TaskID {
				continue
			}
			t.mu.Lock()
			start, seen := t.leases[ref.ID]
			delete(t.leases, ref.ID)
			t.mu.Unlock()
			attrs := append(append([]attribute.KeyValue{}, common...), AttrState.String(prev.State), AttrTaskID.String(ref.ID),
				AttrTaskType.String(ref.Type), AttrAttempt.Int(ref.Attempt))
			if ev.WorkerID != "" {
				attrs = append(attrs, AttrWorker.String(ev.WorkerID))
			}
			outcome, failed := string(ev.Kind), false
			if ev.Result != nil {
				outcome = ev.Result.Status
				failed = outcome == wire.ResultFailure
				if ev.Result.Error != nil && ev.Result.Error.Code != "" {
					attrs = append(attrs, AttrErrorCode.String(ev.Result.Error.Code))
				}
			} else {
				failed = true
			}
			attrs = append(attrs, AttrOutcome.String(outcome))
			if !seen {
				start = prevStart
				attrs = append(attrs, AttrApproximate.Bool(true))
			}
			t.write(stateCtx(prev.State, prev.Steps), tid, attemptSpan(ref.ID), "task "+ref.Type, start, now, trace.SpanKindProducer, failed, attrs)
		}
	}

	// The states left, in order; each one entered here is noted.
	steps := 0
	if prev != nil {
		steps = prev.Steps
	}
	k := 0
	ended := j.Status.Terminal()
	for _, e := range eff.Timeline {
		if e.Type != "state_entered" {
			continue
		}
		if e.PrevState != "" {
			t.endState(jobCtx, j, tid, e.PrevState, steps+k, prevStart, now, common, "")
		}
		k++
		t.mu.Lock()
		if len(t.states) >= maxOpen {
			clear(t.states) // what ended elsewhere: start afresh
		}
		t.states[visit(j.ID, steps+k)] = now
		t.mu.Unlock()
	}
	if !ended {
		return
	}
	// The job ended: its last state ends with it, then the job.
	t.endState(jobCtx, j, tid, j.State, j.Steps, prevStart, now, common, string(j.Status))
	ctx := context.Background()
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	attrs := append(append([]attribute.KeyValue{}, common...), AttrOutcome.String(string(j.Status)))
	if j.Error != nil && j.Error.Code != "" {
		attrs = append(attrs, AttrErrorCode.String(j.Error.Code))
	}
	t.write(ctx, tid, jobSpan(j), "job "+j.Blueprint, j.CreatedAt, now, trace.SpanKindInternal, j.Status != wire.StatusFinished, attrs)
}

func (t *Tracer) endState(jobCtx context.Context, j *core.Job, tid trace.TraceID, state string, steps int, fallback, now time.Time, common []attribute.KeyValue, outcome string) {
	if state == "" || steps <= 0 {
		return
	}
	key := visit(j.ID, steps)
	t.mu.Lock()
	start, seen := t.states[key]
	delete(t.states, key)
	t.mu.Unlock()
	attrs := append(append([]attribute.KeyValue{}, common...), AttrState.String(state))
	if outcome != "" {
		attrs = append(attrs, AttrOutcome.String(outcome))
	}
	if !seen {
		start = fallback
		attrs = append(attrs, AttrApproximate.Bool(true))
	}
	t.write(jobCtx, tid, stateSpan(j.ID, state, steps), "state "+state, start, now, trace.SpanKindInternal, false, attrs)
}

// write records one span with the given ids and times.
func (t *Tracer) write(parent context.Context, tid trace.TraceID, sid trace.SpanID, name string, start, end time.Time, kind trace.SpanKind, failed bool, attrs []attribute.KeyValue) {
	ctx := context.WithValue(parent, idsKey{}, forced{trace: tid, span: sid})
	_, sp := t.tr.Start(ctx, name, trace.WithTimestamp(start), trace.WithSpanKind(kind), trace.WithAttributes(attrs...))
	if failed {
		sp.SetStatus(codes.Error, "")
	}
	sp.End(trace.WithTimestamp(end))
}
