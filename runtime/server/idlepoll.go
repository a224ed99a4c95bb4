package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/internal/park"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// parkAfter is how long a long poll is held in its handler before its
// connection is parked: a busy worker's poll gets its task within it and
// never pays for parking; an idle worker's poll spends the rest of its
// hold parked.
const parkAfter = 250 * time.Millisecond

// heldPoll is a long poll that waits for a task. The lease runs on a
// goroutine of its own from the start, so the poll can leave its handler
// (and net/http's buffers, request and goroutine) without leaving its
// place among the waiting polls.
type heldPoll struct {
	s       *Server
	cancel  context.CancelFunc
	done    chan leaseResult // the result, while the handler still holds the poll
	mu      sync.Mutex
	lc      *park.Conn // set once the poll is parked
	path    string
	observe func(code int)
}

type leaseResult struct {
	t   *core.Task
	err error
}

// Cancel ends the poll's wait (its client went away).
func (hp *heldPoll) Cancel() { hp.cancel() }

// holdPoll answers a poll that may wait (p.Wait > 0). The wait ends with
// a task, at p.Wait, when the client goes away or when the server drains.
//
// A worker holds at most Limits.MaxParkedPerWorker polls at once; one
// more is refused with 429.
func (s *Server) holdPoll(w http.ResponseWriter, r *http.Request, p store.LeaseParams) error {
	// The poll takes one of the worker's slots, which its connection
	// keeps once parked, until it closes; a connection parked already
	// holds its own.
	lc := park.From(w)
	if lc == nil && !s.parked.take(p.WorkerID) {
		return &apiError{Status: http.StatusTooManyRequests, Code: wire.CodeRateLimited, RetryAfter: 1,
			Message: fmt.Sprintf("worker %q holds its maximum of %d polls and parked connections (WORKER_MAX_PARKED_CONNECTIONS)", p.WorkerID, s.parked.max)}
	}
	handedOver := false
	if lc == nil {
		defer func() {
			if !handedOver {
				s.parked.give(p.WorkerID)
			}
		}()
	}
	ctx, cancel := context.WithCancel(s.x.DrainContext())
	hp := &heldPoll{s: s, cancel: cancel}
	if lc != nil { // on a parked connection: wait parked
		hp.lc, hp.path, hp.observe = lc, r.URL.Path, deferObserve(w)
		lc.StartPoll(hp, true)
		go hp.lease(ctx, p)
		return nil
	}
	hp.done = make(chan leaseResult, 1)
	go hp.lease(ctx, p)

	parker := s.parker(r)
	if parker == nil { // parking is off: hold it here
		select {
		case res := <-hp.done:
			hp.cancel()
			return s.answerPoll(w, res.t, res.err)
		case <-r.Context().Done():
			return hp.abandon(w)
		}
	}
	timer := time.NewTimer(min(parkAfter, p.Wait))
	select {
	case res := <-hp.done:
		timer.Stop()
		hp.cancel()
		return s.answerPoll(w, res.t, res.err)
	case <-r.Context().Done():
		timer.Stop()
		return hp.abandon(w)
	case <-timer.C:
	}
	lc, err := parker.Hijack(w, r)
	if errors.Is(err, park.ErrNotParked) {
		select { // not parkable: hold it here
		case res := <-hp.done:
			hp.cancel()
			return s.answerPoll(w, res.t, res.err)
		case <-r.Context().Done():
			return hp.abandon(w)
		}
	}
	if err != nil { // the server shut down meanwhile
		hp.cancel()
		<-hp.done
		return nil
	}
	handedOver = true
	wid := p.WorkerID
	lc.OnEnd(func() { s.parked.give(wid) })
	hp.path, hp.observe = strings.Clone(r.URL.Path), deferObserve(w)
	lc.StartPoll(hp, false)
	hp.mu.Lock()
	select {
	case res := <-hp.done: // the wait ended while the connection was taken over
		hp.mu.Unlock()
		hp.cancel()
		hp.finish(lc, res)
	default:
		hp.lc = lc
		hp.mu.Unlock()
	}
	go lc.Run()
	return nil
}

// abandon ends a poll whose client went away while in its handler.
func (hp *heldPoll) abandon(w http.ResponseWriter) error {
	hp.cancel()
	res := <-hp.done
	return hp.s.answerPoll(w, res.t, res.err)
}

func (hp *heldPoll) lease(ctx context.Context, p store.LeaseParams) {
	t, err := hp.s.x.Lease(ctx, p)
	res := leaseResult{t, err}
	hp.mu.Lock()
	lc := hp.lc
	if lc == nil {
		hp.done <- res
		hp.mu.Unlock()
		return
	}
	hp.mu.Unlock()
	hp.cancel()
	hp.finish(lc, res)
}

// finish answers a parked poll on its connection.
func (hp *heldPoll) finish(lc *park.Conn, res leaseResult) {
	rr := park.NewResponse()
	rr.Header()[versionKey] = versionValue
	if err := hp.s.answerPoll(rr, res.t, res.err); err != nil {
		hp.s.writeError(rr, &http.Request{Method: http.MethodGet, URL: &url.URL{Path: hp.path}}, err)
	}
	hp.observe(rr.Status())
	lc.AnswerPoll(rr)
}
