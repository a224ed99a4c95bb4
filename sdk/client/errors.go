package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sentinels an *APIError matches with errors.Is, by its HTTP status.
var (
	ErrNotFound     = errors.New("not found")                 // 404: unknown job or blueprint, another client's job
	ErrUnauthorized = errors.New("unauthorized")              // 401, 403: missing, unknown or wrong token
	ErrInvalidInput = errors.New("invalid input")             // 400, 413, 415, 422: the request was refused as written
	ErrConflict     = errors.New("conflict")                  // 409: e.g. an approval for a job that is not waiting
	ErrQuota        = errors.New("quota exceeded")            // 429: the client's quota or a rate limit
	ErrUnavailable  = errors.New("server unavailable")        // 502, 503, 504: shutting down or overloaded; retry
	ErrServer       = errors.New("server error")              // any other 5xx
	ErrNoEndpoint   = errors.New("blueprint has no endpoint") // Start by name of a blueprint that serves no route
)

// APIError is an error answer of the server: its HTTP status and the
// {"error": {"code", "message", "details"}} body. A body in another shape
// (the Python orchestrator's {"error": "text"}, or no JSON at all) gives
// the text as Message and an empty Code.
type APIError struct {
	Status  int    // HTTP status
	Code    string // the body's error.code, e.g. "not_found", "invalid_input"
	Message string
	Details any // the body's error.details, as JSON decodes it
	// RetryAfter is the Retry-After header of a 429 or 503, zero if none.
	RetryAfter time.Duration
	// Method and Path name the request that was refused.
	Method, Path string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d", e.Method, e.Path, e.Status)
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Is matches the sentinel of the error's status.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound
	case ErrUnauthorized:
		return e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden
	case ErrInvalidInput:
		switch e.Status {
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusUnprocessableEntity:
			return true
		}
	case ErrConflict:
		return e.Status == http.StatusConflict
	case ErrQuota:
		return e.Status == http.StatusTooManyRequests
	case ErrUnavailable:
		switch e.Status {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
	case ErrServer:
		return e.Status >= 500
	}
	return false
}

// maxErrorBody bounds how much of an error answer is read.
const maxErrorBody = 64 << 10

// apiError builds the error of a non-2xx answer from its body.
func apiError(method, path string, resp *http.Response, body []byte) *APIError {
	e := &APIError{Status: resp.StatusCode, Method: method, Path: path}
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil && n >= 0 {
			e.RetryAfter = time.Duration(n) * time.Second
		} else if t, err := http.ParseTime(s); err == nil {
			e.RetryAfter = max(0, time.Until(t))
		}
	}
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) == nil && len(env.Error) > 0 {
		var obj struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details any    `json:"details"`
		}
		var text string
		switch {
		case json.Unmarshal(env.Error, &obj) == nil:
			e.Code, e.Message, e.Details = obj.Code, obj.Message, obj.Details
		case json.Unmarshal(env.Error, &text) == nil:
			e.Message = text
		}
	}
	if e.Code == "" && e.Message == "" {
		e.Message = strings.TrimSpace(string(body))
		if len(e.Message) > 200 {
			e.Message = e.Message[:200] + "..."
		}
		if e.Message == "" {
			e.Message = strings.ToLower(http.StatusText(resp.StatusCode))
		}
	}
	return e
}
