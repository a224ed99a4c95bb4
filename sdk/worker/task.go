package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// HandlerFunc runs one task. It returns the status (success, failure,
// cancelled or any custom word the blueprint's transitions name, such as
// out_of_stock) and data the orchestrator merges into the job's history.
// An error fails the task: wrap it with Transient (retried), Permanent
// (quarantines the job) or InvalidInput (fails it at once); a plain error
// is transient. ctx ends when the orchestrator cancels the task.
type HandlerFunc func(ctx context.Context, t *Task) (Result, error)

// Result is what a handler returns.
type Result struct {
	Status   string // "" means success
	Data     map[string]any
	Metadata map[string]any
}

// Task is one task handed to the worker.
type Task struct {
	JobID, TaskID, Type string
	Priority            float64
	Params              map[string]any
	Metadata            map[string]any
	TracingContext      map[string]any
	ParamsMetadata      map[string]wire.FileMetadata
	// Deadline is when the orchestrator stops waiting for the result
	// (zero when it gave none).
	Deadline time.Time
	// PayloadDir is this task's folder for files (removed afterwards);
	// downloaded S3 payloads land here, and result paths inside it are
	// uploaded.
	PayloadDir string

	cancelled atomic.Bool
	link      *link                   // the orchestrator that issued the task; nil in a Task made by hand
	cancel    context.CancelCauseFunc // ends the handler's context
}

// Cancelled reports whether the orchestrator asked to cancel the task
// (pushed over the WebSocket or learnt from a heartbeat).
func (t *Task) Cancelled() bool { return t.cancelled.Load() }

// CheckForCancellation is the cookbook's check_for_cancellation: a
// handler calls it in its loop and stops when it is true; the task then
// ends cancelled.
func (t *Task) CheckForCancellation(ctx context.Context) bool {
	return t.Cancelled() || errors.Is(context.Cause(ctx), errCancelRequested)
}

// Progress reports progress (0 to 1) and a message to the orchestrator.
func (t *Task) Progress(ctx context.Context, fraction float64, message string) error {
	if t.link == nil {
		return nil
	}
	return t.link.event(ctx, t, wire.EventProgress, map[string]any{"progress": fraction, "message": message})
}

// codeError carries a wire error code.
type codeError struct {
	code string
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }

// WithCode marks err with a wire error code.
func WithCode(code string, err error) error {
	if err == nil {
		err = errors.New(code)
	}
	return &codeError{code, err}
}

// Transient marks err as TRANSIENT_ERROR: the orchestrator retries the
// task with backoff while the blueprint's retries allow.
func Transient(err error) error { return WithCode(wire.CodeTransientError, err) }

// Permanent marks err as PERMANENT_ERROR: the job is quarantined.
func Permanent(err error) error { return WithCode(wire.CodePermanentError, err) }

// InvalidInput marks err as INVALID_INPUT_ERROR: the task fails at once.
func InvalidInput(err error) error { return WithCode(wire.CodeInvalidInputError, err) }

// Code returns err's wire code (TRANSIENT_ERROR for a plain error).
func Code(err error) string {
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return wire.CodeTransientError
}

// detailsError carries the details member of a wire error.
type detailsError struct {
	details any
	err     error
}

func (e *detailsError) Error() string { return e.err.Error() }
func (e *detailsError) Unwrap() error { return e.err }

// WithDetails attaches details (any JSON value, e.g. the offending field)
// to err; they are sent as the error's details member. The code stays
// err's: WithDetails(InvalidInput(err), d) is an INVALID_INPUT_ERROR.
func WithDetails(err error, details any) error {
	if err == nil {
		err = errors.New("error")
	}
	return &detailsError{details, err}
}

func errorInfo(err error) *wire.Error {
	e := &wire.Error{Code: Code(err), Message: err.Error()}
	var de *detailsError
	if errors.As(err, &de) {
		e.Details = de.details
	}
	return e
}

// Event sends a custom event about the task to the orchestrator that
// issued it (POST /_worker/events, signed like every message).
func (t *Task) Event(ctx context.Context, eventType string, payload map[string]any) error {
	if t.link == nil {
		return errors.New("worker: this task has no orchestrator to send events to")
	}
	return t.link.event(ctx, t, eventType, payload)
}

// Decode fills v (a pointer to a struct or map) from the task's params
// by way of JSON; a mismatch is an INVALID_INPUT_ERROR naming the task.
func (t *Task) Decode(v any) error {
	b, err := json.Marshal(t.Params)
	if err != nil {
		return InvalidInput(fmt.Errorf("task %s: params: %w", t.TaskID, err))
	}
	if err := json.Unmarshal(b, v); err != nil {
		return InvalidInput(fmt.Errorf("task %s (%s): params: %w", t.TaskID, t.Type, err))
	}
	return nil
}
