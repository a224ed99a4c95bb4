package orchestrator

import (
	"fmt"
	"time"
)

// Kind says why the orchestrator refused a call; the server maps each to
// an HTTP status.
type Kind uint8

const (
	KindInvalid       Kind = iota + 1 // the request is malformed or does not fit (400)
	KindForbidden                     // the caller may not do this (403)
	KindNotFound                      // no such job, blueprint or worker, or not the caller's (404)
	KindConflict                      // the job is not in a state that takes this (409)
	KindExhausted                     // a quota or rate is used up (429)
	KindUnavailable                   // the instance is draining (503)
	KindUnprocessable                 // well-formed, but at odds with an earlier request (422)
)

// Error is a refusal: a Kind, the wire error code and a message for the
// caller. Details, when set, is shown as the error object's details.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Details any
	// RetryAfter is when the caller may try again (KindExhausted,
	// KindUnavailable); zero: the server's default.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

func refuse(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}
