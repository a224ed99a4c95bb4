package park

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Conn is a parked connection. Its goroutine waits for
// the first byte of the next request, which is also how a poll held on
// the connection learns that its client went away (the read ends without
// a byte); it then reads the request, serves it through the parker's
// handler into a buffered answer and writes that answer. A poll that
// waits is answered by its own goroutine when its wait ends; a request
// that comes behind it is read after that answer.
type Conn struct {
	p      *Parker
	c      net.Conn
	remote string
	pre    []byte // read and not yet served
	one    [1]byte

	mu      sync.Mutex
	busy    bool          // a request is being served
	poll    Poll          // the poll that waits on the connection, if any
	pollEnd chan struct{} // closed once that poll is answered
	started bool          // the request being served left a poll waiting
	closing bool          // close once the request or poll under way is answered
	gone    bool          // handed back to the http.Server
	onEnd   []func()      // called once the connection ends
	ended   bool
}

// OnEnd has f called once the connection ends (closed or handed back);
// at once when it has ended. A nil f is ignored.
func (lc *Conn) OnEnd(f func()) {
	if f == nil {
		return
	}
	lc.mu.Lock()
	if lc.ended {
		lc.mu.Unlock()
		f()
		return
	}
	lc.onEnd = append(lc.onEnd, f)
	lc.mu.Unlock()
}

// Poll is a request that waits on a parked connection for its answer (a
// held long poll); Cancel ends its wait when the client goes away.
type Poll interface{ Cancel() }

// From is the parked connection whose request w answers, if any (w may
// wrap the Response, with an Unwrap method).
func From(w http.ResponseWriter) *Conn {
	for {
		switch x := w.(type) {
		case *Response:
			return x.lc
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil
		}
	}
}

// adopt parks c (the connection of a request served by p's server); nil
// when p has shut down (c is closed then).
func (p *Parker) adopt(c net.Conn, pre []byte) *Conn {
	lc := &Conn{p: p, c: c, remote: c.RemoteAddr().String()}
	if p, ok := c.(*prefixConn); ok { // bytes of an earlier hand-back not read yet
		lc.c, pre = p.Conn, append(slices.Clone(p.pre), pre...)
	}
	lc.pre = pre
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return nil
	}
	p.local[lc] = struct{}{}
	return lc
}

// End closes the connection (unless handed back) and forgets it.
func (lc *Conn) End() {
	lc.mu.Lock()
	gone := lc.gone
	fs := lc.onEnd
	lc.onEnd, lc.ended = nil, true
	lc.mu.Unlock()
	if !gone {
		_ = lc.c.Close()
	}
	lc.p.mu.Lock()
	delete(lc.p.local, lc)
	lc.p.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// closeIfIdle closes the connection when it waits for a request, or has
// it closed after the answer under way (server shutdown).
func (lc *Conn) closeIfIdle() {
	lc.mu.Lock()
	idle := !lc.busy && lc.poll == nil && !lc.gone
	lc.closing = true
	lc.mu.Unlock()
	if idle {
		_ = lc.c.Close()
	}
}

// Read reads what was read ahead first (the reader of http.ReadRequest).
func (lc *Conn) Read(b []byte) (int, error) {
	if len(lc.pre) > 0 {
		n := copy(b, lc.pre)
		lc.pre = lc.pre[n:]
		return n, nil
	}
	return lc.c.Read(b)
}

var readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}

// headerTimeout bounds the reading of a request's head once its first
// byte came, as the server's ReadHeaderTimeout does.
const headerTimeout = 10 * time.Second

// Run serves the connection until it is done; call it on a goroutine of
// its own.
func (lc *Conn) Run() {
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			lc.p.log.Error("panic serving a parked connection", "panic", fmt.Sprint(v))
		}
		lc.End()
	}()
	for lc.next() && lc.serve() {
	}
}

// next waits for the next request's first byte, and for the answer of the
// poll waiting on the connection; false when the connection is done.
func (lc *Conn) next() bool {
	if len(lc.pre) == 0 {
		// Idle with no poll held: wait for a request up to the idle
		// timeout; a held poll's wait is bounded by the poll itself.
		lc.mu.Lock()
		var deadline time.Time
		if lc.poll == nil && lc.p.idle > 0 {
			deadline = time.Now().Add(lc.p.idle)
		}
		lc.mu.Unlock()
		_ = lc.c.SetReadDeadline(deadline)
		n, _ := lc.c.Read(lc.one[:])
		if n == 0 { // the client went away (or the connection was closed)
			lc.mu.Lock()
			if lc.poll != nil {
				lc.poll.Cancel()
			}
			lc.mu.Unlock()
			lc.waitPoll()
			return false
		}
		lc.pre = lc.one[:1]
	}
	return lc.waitPoll()
}

// waitPoll waits until no poll waits on the connection; false when its
// answer closed the connection.
func (lc *Conn) waitPoll() bool {
	lc.mu.Lock()
	end := lc.pollEnd
	lc.mu.Unlock()
	if end != nil {
		<-end
	}
	lc.mu.Lock()
	defer lc.mu.Unlock()
	if lc.closing {
		return false
	}
	lc.busy = true
	return true
}

// serve reads one request and answers it, or hands the connection back to
// the http.Server; false when the connection is done here.
func (lc *Conn) serve() bool {
	br := readerPool.Get().(*bufio.Reader)
	br.Reset(lc)
	defer func() {
		br.Reset(nil)
		readerPool.Put(br)
	}()
	_ = lc.c.SetReadDeadline(time.Now().Add(headerTimeout))
	head, ok := peekHead(br)
	_ = lc.c.SetReadDeadline(time.Time{})
	if head == nil {
		if ok { // a head longer than the reader: net/http reads it
			lc.handBack(br, nil)
		}
		return false
	}
	req, err := http.ReadRequest(br)
	if err != nil {
		_, _ = io.WriteString(lc.c, "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request")
		return false
	}
	if !servedHere(req) || lc.p.draining() {
		lc.handBack(br, head)
		return false
	}
	if !lc.p.enter() { // shutting down: Run is about to close the store
		return false
	}
	defer lc.p.inflight.Done()
	req.RemoteAddr = lc.remote // its context is Background's: nothing waits on its end
	rr := NewResponse()
	rr.lc = lc
	if lc.p.body > 0 {
		_ = lc.c.SetReadDeadline(time.Now().Add(lc.p.body))
	}
	lc.p.handler.ServeHTTP(rr, req)
	keep := !lc.p.draining()
	if n, _ := io.CopyN(io.Discard, req.Body, 256<<10); n == 256<<10 {
		keep = false // a body left unread: the connection cannot be reused
	}
	lc.pre = nil
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		lc.pre = slices.Clone(b)
	}
	lc.mu.Lock()
	started := lc.started
	lc.started, lc.busy = false, false
	keep = keep && !lc.closing
	lc.mu.Unlock()
	if started { // the poll's own goroutine answers
		return true
	}
	return lc.write(rr, keep) && keep
}

// servedHere says which requests a parked connection serves itself: the
// worker protocol's, over HTTP/1.1 with keep-alive, without an upgrade
// or an Expect.
func servedHere(r *http.Request) bool {
	return r.ProtoMajor == 1 && r.ProtoMinor >= 1 && !r.Close &&
		strings.HasPrefix(r.URL.Path, "/_worker/") && !strings.HasPrefix(r.URL.Path, "/_worker/ws") &&
		r.Header.Get("Upgrade") == "" && r.Header.Get("Expect") == ""
}

// peekHead reads until br holds a whole request head and returns it (its
// bytes stay unread in br); nil and ok when the head does not fit in br,
// nil and !ok when the connection ended or timed out first.
func peekHead(br *bufio.Reader) (head []byte, ok bool) {
	for {
		b, _ := br.Peek(br.Buffered())
		if n := headEnd(b); n > 0 {
			return b[:n], true
		}
		if br.Buffered() == br.Size() {
			return nil, true
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return nil, false
		}
	}
}

// headEnd is the length of the head in b, up to and with the first blank
// line ("\n\r\n" or "\n\n", as net/textproto reads lines); 0 when b holds
// none.
func headEnd(b []byte) int {
	crlf, lf := bytes.Index(b, []byte("\n\r\n")), bytes.Index(b, []byte("\n\n"))
	switch {
	case crlf >= 0 && (lf < 0 || crlf < lf):
		return crlf + 3
	case lf >= 0:
		return lf + 2
	}
	return 0
}

// handBack gives the connection back to the http.Server, with the bytes
// read so far: head (consumed from br by ReadRequest) and br's buffer.
func (lc *Conn) handBack(br *bufio.Reader, head []byte) {
	pre := slices.Clone(head)
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		pre = append(pre, b...)
	}
	lc.mu.Lock()
	lc.gone = true
	lc.mu.Unlock()
	lc.p.serve(withPrefix(lc.c, pre))
}

// write sends rr (an answer of a few hundred bytes: the socket's buffer
// takes it without a deadline) and recycles it; false when it could not.
func (lc *Conn) write(rr *Response, keepAlive bool) bool {
	_, err := lc.c.Write(rr.encode(keepAlive, time.Now()))
	rr.Release()
	return err == nil
}

// StartPoll records the poll that now waits on the connection; here says
// that it came on the connection while parked (its request is the one
// being served).
func (lc *Conn) StartPoll(hp Poll, here bool) {
	lc.mu.Lock()
	lc.poll, lc.pollEnd, lc.started = hp, make(chan struct{}), here
	lc.mu.Unlock()
}

// AnswerPoll writes the answer of the poll waiting on the connection.
func (lc *Conn) AnswerPoll(rr *Response) {
	lc.mu.Lock()
	keep := !lc.closing && !lc.p.draining()
	lc.mu.Unlock()
	ok := lc.write(rr, keep)
	if ok && keep && lc.p.idle > 0 {
		// The read waiting for the next request is now an idle one.
		_ = lc.c.SetReadDeadline(time.Now().Add(lc.p.idle))
	}
	lc.mu.Lock()
	if !ok || !keep {
		lc.closing = true
	}
	close(lc.pollEnd)
	lc.poll, lc.pollEnd = nil, nil
	lc.mu.Unlock()
	if !ok || !keep {
		_ = lc.c.Close()
	}
}
