package worker

import (
	"bytes"
	"encoding/json"
	"strconv"
	"sync"
	"time"
)

// sentWindow is how long an orchestrator remembers a signature to refuse
// it again: the 60 s either side of its clock a timestamp may be, and a
// second.
const sentWindow = 121 * time.Second

// sent are the signatures a link sent within sentWindow. An orchestrator
// accepts a signed message once, and two messages with the same content
// in the same second (two identical heartbeats, a result sent again after
// an answer was lost) would sign the same: the second gets a later
// timestamp instead, so no message of the worker is taken for a replay.
type sent struct {
	mu    sync.Mutex
	m     map[string]time.Time
	swept time.Time
}

// fresh records sig and reports whether it was not sent within the window.
func (s *sent) fresh(sig string, now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]time.Time{}
	}
	if now.Sub(s.swept) > sentWindow {
		for k, at := range s.m {
			if now.Sub(at) > sentWindow {
				delete(s.m, k)
			}
		}
		s.swept = now
	}
	if at, ok := s.m[sig]; ok && now.Sub(at) <= sentWindow {
		return false
	}
	s.m[sig] = now
	return true
}

// laterTimestamp returns the JSON object b with its top-level timestamp one
// second later; false when b has none.
func laterTimestamp(b []byte) ([]byte, bool) {
	var m map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&m) != nil {
		return nil, false
	}
	raw, ok := m["timestamp"]
	if !ok {
		return nil, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return nil, false
	}
	m["timestamp"] = json.RawMessage(strconv.FormatInt(int64(f)+1, 10))
	out, err := json.Marshal(m)
	if err != nil {
		return nil, false
	}
	return out, true
}
