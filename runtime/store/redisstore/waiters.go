package redisstore

import (
	"container/list"
	"strconv"
	"strings"
)

// waiter is a long poll of this process waiting for a task.
type waiter struct {
	worker string
	types  []string
	ch     chan struct{} // buffered 1: a token is a wake not yet taken
	elems  []*list.Element
}

// waiters index this process's waiting polls by task type (each list
// oldest first) and by worker, so a wake message reaches as many polls as
// it has tasks for, the longest waiting first, without a scan of them all.
type waiters struct {
	byType   map[string]*list.List
	byWorker map[string]map[*waiter]struct{}
	n        int
}

func newWaiters() waiters {
	return waiters{byType: map[string]*list.List{}, byWorker: map[string]map[*waiter]struct{}{}}
}

func (ws *waiters) add(w *waiter) {
	for _, ty := range w.types {
		l := ws.byType[ty]
		if l == nil {
			l = list.New()
			ws.byType[ty] = l
		}
		w.elems = append(w.elems, l.PushBack(w))
	}
	m := ws.byWorker[w.worker]
	if m == nil {
		m = map[*waiter]struct{}{}
		ws.byWorker[w.worker] = m
	}
	m[w] = struct{}{}
	ws.n++
}

// remove takes w out; it reports whether w held a wake it never took.
func (ws *waiters) remove(w *waiter) (untaken bool) {
	for i, ty := range w.types {
		l := ws.byType[ty]
		l.Remove(w.elems[i])
		if l.Len() == 0 {
			delete(ws.byType, ty)
		}
	}
	w.elems = nil
	m := ws.byWorker[w.worker]
	delete(m, w)
	if len(m) == 0 {
		delete(ws.byWorker, w.worker)
	}
	ws.n--
	select {
	case <-w.ch:
		return true
	default:
		return false
	}
}

// wakeType wakes up to n polls of the type that hold no wake yet, the
// longest waiting first; n < 0 wakes them all.
func (ws *waiters) wakeType(ty string, n int) {
	l := ws.byType[ty]
	if l == nil {
		return
	}
	for e := l.Front(); e != nil && n != 0; e = e.Next() {
		select {
		case e.Value.(*waiter).ch <- struct{}{}:
			n--
		default:
		}
	}
}

// recheck wakes the longest-waiting poll of each type that holds no wake.
func (ws *waiters) recheck() {
	for ty := range ws.byType {
		ws.wakeType(ty, 1)
	}
}

func (ws *waiters) wakeWorker(id string) {
	for w := range ws.byWorker[id] {
		select {
		case w.ch <- struct{}{}:
		default:
		}
	}
}

// deliver acts on a wake message: "t:<n>:<type>" (n tasks of a type
// queued), "T:<type>" (a task only some workers may take: every poll of
// the type looks), "w:<worker>" (a task in a worker's own queue), "*"
// (every poll looks; the store's own, when its subscription comes back).
func (ws *waiters) deliver(msg string) {
	kind, rest, _ := strings.Cut(msg, ":")
	switch kind {
	case "t":
		count, ty, ok := strings.Cut(rest, ":")
		n, err := strconv.Atoi(count)
		switch {
		case !ok || err != nil: // no count: "t:<type>"
			n, ty = -1, rest
		case n < 1:
			n = -1
		}
		ws.wakeType(ty, n) // n < 0: every poll of the type
	case "T":
		ws.wakeType(rest, -1)
	case "w":
		ws.wakeWorker(rest)
	case "*": // messages may have been lost: every poll looks (each
		// poll is under its worker, so this reaches every type's too)
		for id := range ws.byWorker {
			ws.wakeWorker(id)
		}
	}
}
