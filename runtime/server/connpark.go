package server

// Parked connections. A worker's connection spends most of its life
// waiting: its long poll held for up to WORKER_POLL_TIMEOUT_SECONDS, or,
// for the connection its heartbeats use, idle between two heartbeats.
// net/http keeps, per connection, a goroutine with the stack the deepest
// request on it grew, a 4 KB read buffer and a 4 KB write buffer, and per
// request in flight a 2 KB response buffer, the request, its contexts and
// a background-read goroutine: about 30 KB for each held poll and 20 KB
// for each idle keep-alive connection, most of the server's memory with
// 10,000 workers.
//
// So a poll held longer than parkAfter, and the connection of a
// heartbeat once answered, are taken over (hijacked) and parked
// (connlocal.go): the connection keeps one goroutine blocked in a one-byte
// read, with a small stack and no buffers, and serves the worker requests
// that come on it from then on itself (http.ReadRequest, the server's
// handler, an answer written in one piece with Content-Length), with a
// 4 KB reader taken from a pool only while a request is read. A request
// it does not serve (anything outside /_worker/, a WebSocket upgrade, an
// Expect, HTTP/1.0, a head over 4 KB, anything while draining) goes back
// to the same http.Server with the bytes already read, through connQueue,
// a listener of its own (http.Server serves any number of listeners;
// Shutdown closes it with the others).

import (
	"bytes"
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// connQueue is the listener through which parked connections return to
// the http.Server that accepted them (http.Server serves any number of
// listeners; Shutdown closes this one with the others and waits for the
// connections it handed over).
type connQueue struct {
	ch        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
	addr      net.Addr

	mu       sync.Mutex
	closed   bool
	local    map[*localConn]struct{} // parked connections
	inflight sync.WaitGroup          // requests served on them
}

// enter counts a request served on a parked connection; false once the
// queue has shut down (no count starts after that, so wait may begin).
func (q *connQueue) enter() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.inflight.Add(1)
	return true
}

// wait shuts the queue down and waits for the requests served on its
// parked connections.
func (q *connQueue) wait() {
	q.shutdown()
	q.inflight.Wait()
}

// waitParked waits for the requests under way on parked connections of
// hs (Run, after hs.Shutdown, before it closes the store).
func waitParked(hs *http.Server) {
	if q, ok := connQueues.Load(hs); ok {
		q.(*connQueue).wait()
	}
}

var connQueues sync.Map // *http.Server -> *connQueue

// queueFor returns the queue of the http.Server serving r, starting it
// the first time; nil when r did not come through an http.Server.
func queueFor(r *http.Request) *connQueue {
	hs, _ := r.Context().Value(http.ServerContextKey).(*http.Server)
	if hs == nil {
		return nil
	}
	if q, ok := connQueues.Load(hs); ok {
		return q.(*connQueue)
	}
	q := &connQueue{ch: make(chan net.Conn, 64), done: make(chan struct{}), local: map[*localConn]struct{}{}}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		q.addr = a
	}
	if v, loaded := connQueues.LoadOrStore(hs, q); loaded {
		return v.(*connQueue)
	}
	hs.RegisterOnShutdown(q.shutdown)
	go func() {
		_ = hs.Serve(q) // ends when Shutdown (or Close) closes q
		q.shutdown()
		connQueues.CompareAndDelete(hs, q)
	}()
	return q
}

// Accept implements net.Listener.
func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (q *connQueue) Close() error {
	q.closeOnce.Do(func() { close(q.done) })
	return nil
}

// Addr implements net.Listener.
func (q *connQueue) Addr() net.Addr {
	if q.addr == nil {
		return &net.TCPAddr{}
	}
	return q.addr
}

// shutdown closes the queue and the parked connections that wait for a
// request, as http.Server.Shutdown closes its idle connections; the
// others close once answered.
func (q *connQueue) shutdown() {
	q.Close()
	q.mu.Lock()
	q.closed = true
	local := q.local
	q.local = map[*localConn]struct{}{}
	q.mu.Unlock()
	for lc := range local {
		lc.closeIfIdle()
	}
	for {
		select {
		case c := <-q.ch:
			_ = c.Close()
		default:
			return
		}
	}
}

func (q *connQueue) isClosed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// serve hands a connection back to the http.Server, or closes it when
// the server is shutting down.
func (q *connQueue) serve(c net.Conn) {
	select {
	case <-q.done:
		_ = c.Close()
		return
	default:
	}
	select {
	case q.ch <- c:
	case <-q.done:
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

// rawResponse is a response written to a buffer, sent on a hijacked
// connection as net/http would send it (status line, headers in key
// order, Date, Content-Length).
type rawResponse struct {
	h    http.Header
	code int
	body bytes.Buffer
	out  []byte
	lc   *localConn // the parked connection whose request this answers
}

var rawResponses = sync.Pool{New: func() any { return &rawResponse{h: http.Header{}} }}

func newRawResponse() *rawResponse { return rawResponses.Get().(*rawResponse) }

// release recycles rr once its bytes are sent.
func (rr *rawResponse) release() {
	if rr.body.Cap() > 64<<10 {
		return
	}
	clear(rr.h)
	rr.code, rr.lc = 0, nil
	rr.body.Reset()
	rr.out = rr.out[:0]
	rawResponses.Put(rr)
}

func (rr *rawResponse) Header() http.Header { return rr.h }

func (rr *rawResponse) WriteHeader(code int) {
	if rr.code == 0 {
		rr.code = code
	}
}

func (rr *rawResponse) Write(b []byte) (int, error) {
	rr.WriteHeader(http.StatusOK)
	return rr.body.Write(b)
}

func (rr *rawResponse) status() int {
	if rr.code == 0 {
		return http.StatusOK
	}
	return rr.code
}

var headerNewlines = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")

func (rr *rawResponse) encode(keepAlive bool, now time.Time) []byte {
	code := rr.status()
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

// copyTo writes rr through an ordinary ResponseWriter.
func (rr *rawResponse) copyTo(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range rr.h {
		h[k] = v
	}
	w.WriteHeader(rr.status())
	_, _ = w.Write(rr.body.Bytes())
}

var errNotParked = errors.New("connection not parked")

// hijack takes r's connection over when it can be parked: HTTP/1.1,
// keep-alive, served by an http.Server that is not shutting down. pre is
// what the server had read past the request.
func hijack(w http.ResponseWriter, r *http.Request) (q *connQueue, c net.Conn, pre []byte, err error) {
	if r.ProtoMajor != 1 || r.ProtoMinor < 1 || r.Close {
		return nil, nil, nil, errNotParked
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		return nil, nil, nil, errNotParked
	}
	if q = queueFor(r); q == nil || q.isClosed() {
		return nil, nil, nil, errNotParked
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, nil, err
	}
	if n := rw.Reader.Buffered(); n > 0 {
		b, _ := rw.Reader.Peek(n)
		pre = slices.Clone(b)
	}
	return q, c, pre, nil
}

// parkIdleAfter sends rr on r's connection and parks the connection for
// its next request; when the connection cannot be parked, rr goes out
// through w as usual.
func (s *Server) parkIdleAfter(w http.ResponseWriter, r *http.Request, rr *rawResponse) {
	if s.draining.Load() {
		rr.copyTo(w)
		return
	}
	q, c, pre, err := hijack(w, r)
	if err != nil {
		rr.copyTo(w)
		return
	}
	setStatus(w, rr.status())
	lc := q.adopt(s, c, pre)
	if lc == nil {
		return
	}
	if !lc.write(rr, true) {
		lc.end()
		return
	}
	go lc.run()
}
