// Package park serves parked worker connections. A worker's connection
// spends most of its life waiting: its long poll held for up to the poll
// timeout, or, for the connection its heartbeats use, idle between two
// heartbeats. net/http keeps, per connection, a goroutine with the stack
// the deepest request on it grew, a 4 KB read buffer and a 4 KB write
// buffer, and per request in flight a 2 KB response buffer, the request,
// its contexts and a background-read goroutine: about 30 KB for each held
// poll and 20 KB for each idle keep-alive connection, most of the server's
// memory with 10,000 workers.
//
// So the server takes such a connection over (Hijack) and parks it: the
// connection keeps one goroutine blocked in a one-byte read, with a small
// stack and no buffers, and serves the worker requests that come on it
// from then on itself (http.ReadRequest, the handler it was given, an
// answer written in one piece with Content-Length), with a 4 KB reader
// taken from a pool only while a request is read. A request it does not
// serve (anything outside /_worker/, a WebSocket upgrade, an Expect,
// HTTP/1.0, a head over 4 KB, anything while draining) goes back to the
// same http.Server with the bytes already read, through a listener of the
// Parker's own (http.Server serves any number of listeners; Shutdown
// closes it with the others and waits for the connections it handed
// over).
//
// The package knows nothing of the server that uses it: it is given a
// handler, a way to tell that the server drains, and a logger. One
// Parker serves the connections of one http.Server.
package park

import (
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options are what a Parker is given by the server that uses it.
type Options struct {
	// Handler serves the requests that come on parked connections.
	Handler http.Handler
	// Draining reports whether the server drains: parked connections
	// then take no new request and close once answered.
	Draining func() bool
	// Log receives what goes wrong on a parked connection.
	Log *slog.Logger
	// IdleTimeout closes a parked connection that waits this long for a
	// request with no poll held on it (0: never).
	IdleTimeout time.Duration
	// BodyTimeout bounds the reading of a request's body, from the end of
	// its head to the end of its handler (0: unbounded).
	BodyTimeout time.Duration
}

// Parker parks the connections of one http.Server, and is the listener
// through which they return to it (http.Server serves any number of
// listeners; Shutdown closes this one with the others and waits for the
// connections it handed over).
type Parker struct {
	handler  http.Handler
	draining func() bool
	log      *slog.Logger
	idle     time.Duration
	body     time.Duration

	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	addr      net.Addr

	mu       sync.Mutex
	closed   bool
	local    map[*Conn]struct{} // parked connections
	inflight sync.WaitGroup     // requests served on them
}

// New starts a Parker for hs, whose listening address is addr (nil when
// unknown). It serves until hs shuts down.
func New(hs *http.Server, addr net.Addr, o Options) *Parker {
	p := &Parker{
		handler: o.Handler, draining: o.Draining, log: o.Log, addr: addr, idle: o.IdleTimeout, body: o.BodyTimeout,
		ch: make(chan net.Conn, 64), done: make(chan struct{}), local: map[*Conn]struct{}{},
	}
	if p.draining == nil {
		p.draining = func() bool { return false }
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	hs.RegisterOnShutdown(p.shutdown)
	go func() {
		_ = hs.Serve(p) // ends when Shutdown (or Close) closes p
		p.shutdown()
	}()
	return p
}

// enter counts a request served on a parked connection; false once the
// parker has shut down (no count starts after that, so Wait may begin).
func (p *Parker) enter() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.inflight.Add(1)
	return true
}

// Wait shuts the parker down and waits for the requests under way on its
// parked connections (after http.Server.Shutdown, before the server
// closes what those requests use).
func (p *Parker) Wait() {
	p.shutdown()
	p.inflight.Wait()
}

// Accept implements net.Listener.
func (p *Parker) Accept() (net.Conn, error) {
	select {
	case c := <-p.ch:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (p *Parker) Close() error {
	p.closeOnce.Do(func() { close(p.done) })
	return nil
}

// Addr implements net.Listener.
func (p *Parker) Addr() net.Addr {
	if p.addr == nil {
		return &net.TCPAddr{}
	}
	return p.addr
}

// shutdown closes the queue and the parked connections that wait for a
// request, as http.Server.Shutdown closes its idle connections; the
// others close once answered.
func (p *Parker) shutdown() {
	p.Close()
	p.mu.Lock()
	p.closed = true
	local := p.local
	p.local = map[*Conn]struct{}{}
	p.mu.Unlock()
	for lc := range local {
		lc.closeIfIdle()
	}
	for {
		select {
		case c := <-p.ch:
			_ = c.Close()
		default:
			return
		}
	}
}

func (p *Parker) isClosed() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// serve hands a connection back to the http.Server, or closes it when
// the server is shutting down.
func (p *Parker) serve(c net.Conn) {
	select {
	case <-p.done:
		_ = c.Close()
		return
	default:
	}
	select {
	case p.ch <- c:
	case <-p.done:
		_ = c.Close()
	}
}

// prefixConn is a connection whose first bytes were already read.
type prefixConn struct {
	net.Conn
	pre []byte
}

func withPrefix(c net.Conn, pre []byte) net.Conn {
	if p, ok := c.(*prefixConn); ok {
		pre = append(slices.Clone(p.pre), pre...)
		c = p.Conn
	}
	if len(pre) == 0 {
		return c
	}
	return &prefixConn{Conn: c, pre: slices.Clone(pre)}
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.pre) > 0 {
		n := copy(b, p.pre)
		p.pre = p.pre[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}

// CloseWrite lets net/http half-close the connection as it does a TCP one.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Response is a response written to a buffer, sent on a hijacked
// connection as net/http would send it (status line, headers in key
// order, Date, Content-Length). Responses come from a pool.
type Response struct {
	h    http.Header
	code int
	body bytes.Buffer
	out  []byte
	lc   *Conn // the parked connection whose request this answers
}

var responses = sync.Pool{New: func() any { return &Response{h: http.Header{}} }}

// NewResponse takes a Response from the pool.
func NewResponse() *Response { return responses.Get().(*Response) }

// Release recycles rr once its bytes are sent or copied.
func (rr *Response) Release() {
	if rr.body.Cap() > 64<<10 {
		return
	}
	clear(rr.h)
	rr.code, rr.lc = 0, nil
	rr.body.Reset()
	rr.out = rr.out[:0]
	responses.Put(rr)
}

func (rr *Response) Header() http.Header { return rr.h }

func (rr *Response) WriteHeader(code int) {
	if rr.code == 0 {
		rr.code = code
	}
}

func (rr *Response) Write(b []byte) (int, error) {
	rr.WriteHeader(http.StatusOK)
	return rr.body.Write(b)
}

// Status is the answer's status code (200 when none was written).
func (rr *Response) Status() int {
	if rr.code == 0 {
		return http.StatusOK
	}
	return rr.code
}

var headerNewlines = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

func (rr *Response) encode(keepAlive bool, now time.Time) []byte {
	code := rr.Status()
	b := bytes.NewBuffer(rr.out[:0])
	b.Grow(160 + rr.body.Len())
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(code))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(code))
	b.WriteString("\r\n")
	var ka [8]string
	keys := ka[:0]
	for k := range rr.h {
		switch http.CanonicalHeaderKey(k) {
		case "Content-Length", "Connection", "Date", "Transfer-Encoding":
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range rr.h[k] {
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(headerNewlines.Replace(strings.TrimSpace(v)))
			b.WriteString("\r\n")
		}
	}
	if !keepAlive {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("Date: ")
	b.Write(now.UTC().AppendFormat(nil, http.TimeFormat))
	b.WriteString("\r\n")
	if code != http.StatusNoContent && code != http.StatusNotModified && code >= 200 {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(rr.body.Len()))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	if code != http.StatusNoContent && code != http.StatusNotModified {
		b.Write(rr.body.Bytes())
	}
	rr.out = b.Bytes()
	return rr.out
}

// CopyTo writes rr through an ordinary ResponseWriter.
func (rr *Response) CopyTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range rr.h {
		h[k] = v
	}
	w.WriteHeader(rr.Status())
	_, _ = w.Write(rr.body.Bytes())
}

// ErrNotParked: the connection cannot be parked (not HTTP/1.1 with
// keep-alive, not hijackable, or the server is shutting down); it is left
// to net/http.
var ErrNotParked = errors.New("connection not parked")

// ErrClosed: the connection was taken over, but the parker had shut down
// meanwhile, so it was closed.
var ErrClosed = errors.New("connection closed: the server is shutting down")

// Hijack takes r's connection over when it can be parked: HTTP/1.1,
// keep-alive, and a parker that is not shutting down. The Conn it
// returns waits for Run (or End). ErrNotParked leaves w as it was.
func (p *Parker) Hijack(w http.ResponseWriter, r *http.Request) (*Conn, error) {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 || r.Close || p.draining() || p.isClosed() {
		return nil, ErrNotParked
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, ErrNotParked
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, ErrNotParked
	}
	var pre []byte
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		pre = slices.Clone(b)
	}
	lc := p.adopt(c, pre)
	if lc == nil {
		return nil, ErrClosed
	}
	return lc, nil
}

// ParkAfter sends rr on r's connection and parks the connection for its
// next request; false when the connection cannot be parked (rr is then
// left to the caller to send through w). onEnd, when not nil, is called
// once the parked connection ends (or at once when it could not be kept).
func (p *Parker) ParkAfter(w http.ResponseWriter, r *http.Request, rr *Response, onEnd func()) bool {
	lc, err := p.Hijack(w, r)
	if errors.Is(err, ErrNotParked) {
		return false
	}
	if lc == nil {
		rr.Release()
		if onEnd != nil {
			onEnd()
		}
		return true
	}
	lc.OnEnd(onEnd)
	if !lc.write(rr, true) {
		lc.End()
		return true
	}
	go lc.Run()
	return true
}

// Parked is how many connections the parker holds.
func (p *Parker) Parked() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.local)
}
