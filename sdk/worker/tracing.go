package worker

import (
	"context"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// Tracing: a task's tracing_context (its W3C traceparent) is the parent
// of a span the worker starts around the handler with
// Config.TracerProvider. The handler's context holds that span (or, with
// no provider, the orchestrator's span context itself), so the handler's
// own instrumentation joins the job's trace; the result and the task's
// events carry the handler's trace context back (tracing_context,
// trace_context). Only the OpenTelemetry API is linked, not its SDK.

const tracerName = "github.com/avtomatika-ai/avtomatika-go/sdk/worker"

// parseTraceparent reads a W3C traceparent (version 00; later versions
// by their first four fields).
func parseTraceparent(s string) (trace.SpanContext, bool) {
	p := strings.Split(strings.TrimSpace(s), "-")
	if len(p) < 4 || len(p[0]) != 2 || p[0] == "ff" || (p[0] == "00" && len(p) != 4) || len(p[1]) != 32 || len(p[2]) != 16 || len(p[3]) != 2 {
		return trace.SpanContext{}, false
	}
	tid, err1 := trace.TraceIDFromHex(p[1])
	sid, err2 := trace.SpanIDFromHex(p[2])
	flags, err3 := hex.DecodeString(p[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return trace.SpanContext{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: trace.TraceFlags(flags[0]) & trace.FlagsSampled, Remote: true})
	return sc, sc.IsValid()
}

func formatTraceparent(sc trace.SpanContext) string {
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String()
}

// startSpan starts the task's span, child of its tracing_context.
func (w *Worker) startSpan(ctx context.Context, t *Task) (context.Context, trace.Span) {
	if tp, ok := t.TracingContext["traceparent"].(string); ok {
		if sc, ok := parseTraceparent(tp); ok {
			if ts, ok := t.TracingContext["tracestate"].(string); ok {
				if st, err := trace.ParseTraceState(ts); err == nil {
					sc = sc.WithTraceState(st)
				}
			}
			ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
	}
	if w.cfg.TracerProvider == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return w.cfg.TracerProvider.Tracer(tracerName).Start(ctx, "task "+t.Type, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("avtomatika.job.id", t.JobID), attribute.String("avtomatika.task.id", t.TaskID),
			attribute.String("avtomatika.task.type", t.Type), attribute.String("avtomatika.worker.id", w.cfg.WorkerID)))
}

// traceContext is the W3C trace context of ctx's span, or nil when it
// has none.
func traceContext(ctx context.Context) map[string]any {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	out := map[string]any{"traceparent": formatTraceparent(sc)}
	if ts := sc.TraceState().String(); ts != "" {
		out["tracestate"] = ts
	}
	return out
}

// endSpan records the result on the span and ends it.
func endSpan(span trace.Span, res *wire.Result) {
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(attribute.String("avtomatika.outcome", res.Status))
	if res.Status == wire.ResultFailure {
		msg := ""
		if res.Error != nil {
			msg = res.Error.Message
			span.SetAttributes(attribute.String("avtomatika.error.code", res.Error.Code))
		}
		span.SetStatus(codes.Error, msg)
	}
	span.End()
}
