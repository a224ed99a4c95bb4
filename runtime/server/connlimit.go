package server

import (
	"container/list"
	"net"
	"net/http"
	"sync"
	"time"
)

// connLimiter is the listener that bounds the open connections: at most
// max at once. Past it, the oldest connection that carries no request
// (new without a whole request head yet, or idle between requests) is
// closed to make room; when every one is busy, the new connection gets a
// 503 and is closed at once, instead of the process running out of file
// handles. Connections taken over by the server (parked workers) still
// count until they close.
type connLimiter struct {
	net.Listener
	max int

	mu      sync.Mutex
	open    int
	waiting list.List // *limitedConn with no request under way, oldest first
	busy    int       // connections reading or answering a request
	refused uint64
}

func newConnLimiter(l net.Listener, max int) *connLimiter {
	return &connLimiter{Listener: l, max: max}
}

// refusal is the whole answer to a connection over the cap.
const refusal = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 94\r\n\r\n" +
	`{"error":{"code":"busy","message":"the server holds its maximum of open connections; retry"}}` + "\n"

func (cl *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := cl.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cl.mu.Lock()
		var evict *limitedConn
		if cl.open >= cl.max {
			if e := cl.waiting.Front(); e != nil {
				evict = e.Value.(*limitedConn)
				cl.waiting.Remove(e)
				evict.elem = nil
			}
		}
		if cl.open >= cl.max && evict == nil {
			cl.refused++
			cl.mu.Unlock()
			_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = c.Write([]byte(refusal))
			_ = c.Close()
			continue
		}
		cl.open++
		lc := &limitedConn{Conn: c, cl: cl}
		lc.elem = cl.waiting.PushBack(lc)
		cl.mu.Unlock()
		if evict != nil {
			_ = evict.Close()
		}
		return lc, nil
	}
}

// connState follows net/http's view of each connection: one in a request
// cannot be evicted, one new or idle can.
func (cl *connLimiter) connState(c net.Conn, st http.ConnState) {
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if lc.closed {
		return
	}
	if active := st == http.StateActive; active != lc.busy {
		lc.busy = active
		if active {
			cl.busy++
		} else {
			cl.busy--
		}
	}
	switch st {
	case http.StateIdle:
		if lc.elem == nil {
			lc.elem = cl.waiting.PushBack(lc)
		}
	case http.StateActive, http.StateHijacked:
		if lc.elem != nil {
			cl.waiting.Remove(lc.elem)
			lc.elem = nil
		}
	}
}

// stats are the open connections and how many were refused.
func (cl *connLimiter) stats() (open int, refused uint64) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.open, cl.refused
}

// inRequest is how many connections are reading or answering a request.
func (cl *connLimiter) inRequest() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.busy
}

// limitedConn is a connection counted by its connLimiter until closed.
type limitedConn struct {
	net.Conn
	cl     *connLimiter
	elem   *list.Element // in cl.waiting; guarded by cl.mu
	closed bool          // guarded by cl.mu
	busy   bool          // in a request; guarded by cl.mu
}

func (c *limitedConn) Close() error {
	cl := c.cl
	cl.mu.Lock()
	if !c.closed {
		c.closed = true
		cl.open--
		if c.busy {
			c.busy = false
			cl.busy--
		}
		if c.elem != nil {
			cl.waiting.Remove(c.elem)
			c.elem = nil
		}
	}
	cl.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite lets net/http half-close the connection as it does a TCP one.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
