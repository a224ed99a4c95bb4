package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// apiError is what every error response carries:
// {"error": {"code", "message", "details"}}.
type apiError struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
	// RetryAfter is the Retry-After of a 429 or 503 in seconds (default 1).
	RetryAfter int `json:"-"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// writeError maps an error to its status and JSON body. Anything that is
// not an *apiError is an internal error: logged, never shown.
//
// A caller that went away (its request's context ended: it closed or
// half-closed the connection) is no server error: its answer, which
// nobody reads, is 499 and the line is logged at debug level.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	var oe *orchestrator.Error
	if errors.As(err, &oe) {
		ae = &apiError{Status: kindStatus[oe.Kind], Code: oe.Code, Message: oe.Message, Details: oe.Details, RetryAfter: int(oe.RetryAfter / time.Second)}
	} else if !errors.As(err, &ae) {
		switch {
		case r.Context().Err() != nil || errors.Is(err, context.Canceled):
			s.log.Debug("the client went away", "method", r.Method, "path", r.URL.Path, "err", err)
			w.WriteHeader(statusClientGone)
			return
		case errors.Is(err, store.ErrNotFound):
			ae = errorf(http.StatusNotFound, wire.CodeNotFound, "not found")
		case errors.Is(err, store.ErrClosed):
			ae = errorf(http.StatusServiceUnavailable, wire.CodeShuttingDown, "the server is shutting down")
		default:
			s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			ae = errorf(http.StatusInternalServerError, wire.CodeInternal, "internal error")
		}
	}
	if ae.Status == http.StatusTooManyRequests || ae.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(max(ae.RetryAfter, 1)))
	}
	writeJSON(w, ae.Status, map[string]any{"error": ae})
}

// statusClientGone is the status recorded for a request whose client
// went away before its answer (nginx's 499).
const statusClientGone = 499

// kindStatus is the HTTP status of each kind of refusal.
var kindStatus = [...]int{
	orchestrator.KindInvalid:       http.StatusBadRequest,
	orchestrator.KindForbidden:     http.StatusForbidden,
	orchestrator.KindNotFound:      http.StatusNotFound,
	orchestrator.KindConflict:      http.StatusConflict,
	orchestrator.KindExhausted:     http.StatusTooManyRequests,
	orchestrator.KindUnavailable:   http.StatusServiceUnavailable,
	orchestrator.KindUnprocessable: http.StatusUnprocessableEntity,
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// decodeBody reads one JSON object of at most limit bytes into v, within
// the body read timeout (Limits.BodyReadTimeout). An empty body is
// allowed when optional is set.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, optional bool) error {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(s.now().Add(s.cfg.Limits.BodyReadTimeout)) != nil {
		return decodeBody(w, r, limit, v, optional) // a parked connection sets its own
	}
	err := decodeBody(w, r, limit, v, optional)
	var ae *apiError
	if err == nil || (errors.As(err, &ae) && ae.Code != wire.CodeBadRequestBody && ae.Code != wire.CodeBodyTooLarge) {
		// Read to its end: cleared, so a held request does not end at it.
		// A body not read to its end keeps it, so net/http's discarding
		// of the rest cannot hang.
		_ = rc.SetReadDeadline(time.Time{})
	}
	return err
}

// decodeBody reads one JSON object of at most limit bytes into v. An empty
// body is allowed when optional is set.
func decodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, optional bool) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != "application/json" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json") && mt != "text/plain") {
			return errorf(http.StatusUnsupportedMediaType, wire.CodeUnsupportedMediaType, "Content-Type %q: want application/json", ct)
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errorf(http.StatusRequestEntityTooLarge, wire.CodeBodyTooLarge, "request body over %d bytes (MAX_BODY_BYTES)", limit)
		}
		if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
			return errorf(http.StatusRequestTimeout, wire.CodeBadRequestBody, "the request body did not arrive in time (REQUEST_BODY_TIMEOUT_SECONDS)")
		}
		return errorf(http.StatusBadRequest, wire.CodeBadRequestBody, "read request body: %v", err)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return errorf(http.StatusBadRequest, wire.CodeInvalidJSON, "request body is empty: want a JSON object")
	}
	if raw, ok := v.(*json.RawMessage); ok && json.Valid(body) {
		if err := checkText(body); err != nil {
			return err
		}
		*raw = bytes.TrimSpace(body) // what decoding would give, without a copy
		return nil
	}
	if err := decodeJSON(body, v); err != nil {
		return err
	}
	return nil
}

// decodeJSON decodes one JSON object, numbers kept exact, and names where
// it went wrong.
func decodeJSON(body []byte, v any) error {
	if err := checkText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			return errorf(http.StatusBadRequest, wire.CodeInvalidJSON, "invalid JSON at byte %d: %v", se.Offset, se)
		case errors.As(err, &te):
			field := te.Field
			if field == "" {
				field = "the body"
			}
			return errorf(http.StatusBadRequest, wire.CodeInvalidJSON, "%s: want %s, got JSON %s", field, te.Type, te.Value)
		}
		return errorf(http.StatusBadRequest, wire.CodeInvalidJSON, "invalid JSON: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, wire.CodeInvalidJSON, "invalid JSON: more than one value in the body")
	}
	return nil
}

// seconds reads an optional number of seconds from a JSON number.
func seconds(n json.Number, name string) (time.Duration, error) {
	if n == "" {
		return 0, nil
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f < 0 || f > 1e7 {
		return 0, errorf(http.StatusBadRequest, wire.CodeInvalidField, "%s must be a non-negative number of seconds", name)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// recoverer turns a panic into a 500 without a stack trace to the client.
func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				s.writeError(w, r, errors.New("panic"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
