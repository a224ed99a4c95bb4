package memstore

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/internal/uuid"
)

// The memory store keeps jobs, timelines and tasks in a compact binary
// form (one string or byte slice each) and decodes them on access, so a
// queued job costs a few hundred bytes instead of a tree of Go values.
//
// The encoding keeps Go values exactly: JSON values keep their Go types
// (float64, int, int64, string, bool, nil, map[string]any, []any,
// []string, map[string]map[string]any, nil maps and slices told from
// empty ones), times keep their instant and location (not a monotonic
// clock reading, which a stored value has no use for). A job whose values
// hold any other type is kept as a *core.Job instead (memJobExt.job), and
// so is a timeline event or a task (memJobExt.events, memTaskExt).
//
// Strings come in three forms: UUIDs (and "task-" + a UUID, the engine's
// task ids) packed in 16 bytes, names interned in a table of the store
// (blueprints, versions, states, statuses, task types, map keys: sym),
// and the rest as they are. Every field is optional: a record starts
// with a mask of the fields it holds.

// memCodec holds the tables an encoding refers to. It belongs to one
// Store and is used under its lock.
type memCodec struct {
	syms  []string          // interned names, by index
	symIx map[string]uint32 // name -> index
	locs  []*time.Location  // locations other than UTC and Local
	epoch int64             // Unix nanoseconds some times are stored relative to
	buf   []byte            // scratch for encoding
	tbuf  []byte            // scratch for encoding timeline events

	// Set by the Store the codec belongs to (nil: ids are written out):
	// ids of its tasks and jobs by number, and the numbers of ids.
	taskIDOf func(uint32) string
	jobIDOf  func(uint32) string
	taskNo   func(string) (uint32, bool)
	jobNo    func(string) (uint32, bool)
}

// Interning limits: only short names, and only so many (a table full of
// one-off strings must not grow without bound; past the limit names are
// written as they are).
const (
	maxSymLen = 64
	maxSyms   = 1 << 16
)

func newMemCodec() *memCodec {
	return &memCodec{symIx: map[string]uint32{}, epoch: nanos(time.Now())}
}

// String tags: the low 3 bits of a string's leading uvarint.
const (
	strLiteral = 0 // length << 3, then the bytes
	strSym     = 1 // index << 3
	strUUID    = 2 // then 16 bytes
	strTaskID  = 3 // "task-" + UUID; then 16 bytes
	strTaskNo  = 4 // the id of the store's task number << 3
	strJobNo   = 5 // the id of the store's job number << 3
)

// Value tags.
const (
	valNil = iota
	valFalse
	valTrue
	valFloatInt // float64 holding an integer: zigzag varint
	valFloat    // float64: 8 bytes
	valString
	valMap       // map[string]any: len+1 (0: nil), then key (sym), value
	valSlice     // []any: len+1 (0: nil)
	valInt       // int: zigzag varint
	valInt64     // int64: zigzag varint
	valStrings   // []string: len+1 (0: nil)
	valMapOfMaps // map[string]map[string]any: len+1 (0: nil), then key, map
)

// wbuf appends an encoding to b. bad is set when a value has a type the
// encoding does not keep; the caller then keeps the Go value instead.
type wbuf struct {
	b   []byte
	c   *memCodec
	bad bool
}

func (w *wbuf) u(x uint64) { w.b = binary.AppendUvarint(w.b, x) }
func (w *wbuf) i(x int64)  { w.b = binary.AppendVarint(w.b, x) }

func (w *wbuf) byte1(x byte) { w.b = append(w.b, x) }

// str writes s packed when it is a UUID, as it is otherwise.
func (w *wbuf) str(s string) {
	if len(s) == 36 {
		if u, ok := uuid.Parse(s); ok {
			w.byte1(strUUID)
			w.b = append(w.b, u[:]...)
			return
		}
	} else if len(s) == 41 && s[:5] == "task-" {
		if u, ok := uuid.Parse(s[5:]); ok {
			w.byte1(strTaskID)
			w.b = append(w.b, u[:]...)
			return
		}
	}
	w.u(uint64(len(s))<<3 | strLiteral)
	w.b = append(w.b, s...)
}

// taskRef writes the id of a task: its number when the store has it.
func (w *wbuf) taskRef(s string) {
	if w.c.taskNo != nil {
		if n, ok := w.c.taskNo(s); ok {
			w.u(uint64(n)<<3 | strTaskNo)
			return
		}
	}
	w.str(s)
}

// jobRef writes the id of a job: its number when the store has it.
func (w *wbuf) jobRef(s string) {
	if w.c.jobNo != nil {
		if n, ok := w.c.jobNo(s); ok {
			w.u(uint64(n)<<3 | strJobNo)
			return
		}
	}
	w.str(s)
}

// appendKey appends the key of an id: what str writes for it, what the
// record of the job or task starts with.
func appendKey(b []byte, id string) []byte {
	w := wbuf{b: b}
	w.str(id)
	return w.b
}

// sym writes a name: interned when short enough and the table has room.
func (w *wbuf) sym(s string) {
	if s == "" {
		w.byte1(0)
		return
	}
	if n, ok := w.c.symIx[s]; ok {
		w.u(uint64(n)<<3 | strSym)
		return
	}
	if len(s) <= maxSymLen && len(w.c.syms) < maxSyms && !isPacked(s) {
		n := uint32(len(w.c.syms))
		s = string([]byte(s)) // own copy: the caller's may be part of a larger string
		w.c.syms = append(w.c.syms, s)
		w.c.symIx[s] = n
		w.u(uint64(n)<<3 | strSym)
		return
	}
	w.str(s)
}

func (w *wbuf) dur(d time.Duration) {
	w.i(int64(d / time.Millisecond))
	w.i(int64(d % time.Millisecond))
}

// float writes a float64 exactly, small integers in a few bytes.
func (w *wbuf) float(f float64) {
	if f == math.Trunc(f) && math.Abs(f) <= 1<<53 && !(f == 0 && math.Signbit(f)) {
		w.byte1(valFloatInt)
		w.i(int64(f))
		return
	}
	w.byte1(valFloat)
	w.b = binary.LittleEndian.AppendUint64(w.b, math.Float64bits(f))
}

// Time kinds: the low 2 bits of a time's leading uvarint, the location
// code above them (0 UTC, 1 Local, 2+k the store's k-th location).
const (
	timeZero  = 0 // the zero instant
	timeDelta = 1 // zigzag nanoseconds after the base
	timeAbs   = 2 // zigzag seconds, then nanoseconds
)

// safeSec bounds the Unix seconds whose nanoseconds, and differences of
// them, fit in an int64.
const safeSec = 4e9

// nanos is t in Unix nanoseconds, 0 when t is zero or out of the range
// where differences are exact: the base of times stored after t.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if s := t.Unix(); s <= -safeSec || s >= safeSec {
		return 0
	}
	return t.UnixNano()
}

func (w *wbuf) time(t time.Time, base int64) {
	var loc uint64
	switch l := t.Location(); l {
	case time.UTC:
	case time.Local:
		loc = 1
	default:
		loc = w.c.loc(l)
	}
	switch s := t.Unix(); {
	case t.IsZero():
		w.u(loc<<2 | timeZero)
	case s > -safeSec && s < safeSec:
		w.u(loc<<2 | timeDelta)
		w.i(t.UnixNano() - base)
	default:
		w.u(loc<<2 | timeAbs)
		w.i(s)
		w.u(uint64(t.Nanosecond()))
	}
}

func (c *memCodec) loc(l *time.Location) uint64 {
	for i, x := range c.locs {
		if x == l {
			return uint64(i) + 2
		}
	}
	c.locs = append(c.locs, l)
	return uint64(len(c.locs)) + 1
}

// m writes a map field: nil and empty are told apart.
func (w *wbuf) m(m map[string]any) {
	if m == nil {
		w.byte1(0)
		return
	}
	w.u(uint64(len(m)) + 1)
	for k, v := range m {
		w.sym(k)
		w.val(v)
	}
}

func (w *wbuf) val(v any) {
	switch x := v.(type) {
	case nil:
		w.byte1(valNil)
	case bool:
		if x {
			w.byte1(valTrue)
		} else {
			w.byte1(valFalse)
		}
	case float64:
		w.float(x)
	case string:
		w.byte1(valString)
		w.str(x)
	case map[string]any:
		w.byte1(valMap)
		w.m(x)
	case []any:
		w.byte1(valSlice)
		if x == nil {
			w.byte1(0)
			return
		}
		w.u(uint64(len(x)) + 1)
		for _, e := range x {
			w.val(e)
		}
	case int:
		w.byte1(valInt)
		w.i(int64(x))
	case int64:
		w.byte1(valInt64)
		w.i(x)
	case []string:
		w.byte1(valStrings)
		if x == nil {
			w.byte1(0)
			return
		}
		w.u(uint64(len(x)) + 1)
		for _, s := range x {
			w.str(s)
		}
	case map[string]map[string]any:
		w.byte1(valMapOfMaps)
		if x == nil {
			w.byte1(0)
			return
		}
		w.u(uint64(len(x)) + 1)
		for k, m := range x {
			w.sym(k)
			w.m(m)
		}
	default:
		w.bad = true
	}
}

func (w *wbuf) errorInfo(e *core.ErrorInfo) {
	if e == nil {
		w.byte1(0)
		return
	}
	w.byte1(1)
	w.sym(e.Code)
	w.str(e.Message)
	w.val(e.Details)
}

func (w *wbuf) result(r *core.Result) {
	if r == nil {
		w.byte1(0)
		return
	}
	w.byte1(1)
	w.sym(r.Status)
	w.m(r.Data)
	w.errorInfo(r.Error)
}

// rbuf reads an encoding. A malformed one panics (the store wrote it).
type rbuf struct {
	s string
	p int
	c *memCodec
}

func (r *rbuf) byte1() byte {
	b := r.s[r.p]
	r.p++
	return b
}

func (r *rbuf) u() uint64 {
	var x uint64
	var s uint
	for {
		b := r.s[r.p]
		r.p++
		if b < 0x80 {
			return x | uint64(b)<<s
		}
		x |= uint64(b&0x7f) << s
		s += 7
	}
}

func (r *rbuf) i() int64 {
	ux := r.u()
	x := int64(ux >> 1)
	if ux&1 != 0 {
		x = ^x
	}
	return x
}

func (r *rbuf) str() string {
	h := r.u()
	switch h & 7 {
	case strSym:
		return r.c.syms[h>>3]
	case strTaskNo:
		return r.c.taskIDOf(uint32(h >> 3))
	case strJobNo:
		return r.c.jobIDOf(uint32(h >> 3))
	case strUUID:
		s := unpackUUID("", r.s[r.p:r.p+16])
		r.p += 16
		return s
	case strTaskID:
		s := unpackUUID("task-", r.s[r.p:r.p+16])
		r.p += 16
		return s
	}
	n := int(h >> 3)
	s := r.s[r.p : r.p+n]
	r.p += n
	return s
}

// skipStr skips a string.
func (r *rbuf) skipStr() {
	h := r.u()
	switch h & 7 {
	case strSym, strTaskNo, strJobNo:
	case strUUID, strTaskID:
		r.p += 16
	default:
		r.p += int(h >> 3)
	}
}

// strIs reports whether the string at the read position is s, and skips
// it. job is the number of the job whose id s is, or noJob.
func (r *rbuf) strIs(s string, job uint32) bool {
	h := r.u()
	switch h & 7 {
	case strSym:
		return r.c.syms[h>>3] == s
	case strJobNo:
		if job != noJob {
			return uint32(h>>3) == job
		}
		return r.c.jobIDOf(uint32(h>>3)) == s
	case strTaskNo:
		return r.c.taskIDOf(uint32(h>>3)) == s
	case strUUID, strTaskID:
		raw := r.s[r.p : r.p+16]
		r.p += 16
		if h&7 == strTaskID {
			if len(s) != 41 || s[:5] != "task-" {
				return false
			}
			s = s[5:]
		}
		if len(s) != 36 {
			return false
		}
		u, ok := uuid.Parse(s)
		return ok && string(u[:]) == raw
	}
	n := int(h >> 3)
	t := r.s[r.p : r.p+n]
	r.p += n
	return t == s
}

func (r *rbuf) dur() time.Duration {
	ms := r.i()
	return time.Duration(ms)*time.Millisecond + time.Duration(r.i())
}

func (r *rbuf) float() float64 {
	switch r.byte1() {
	case valFloatInt:
		return float64(r.i())
	default:
		var x uint64
		for i := 7; i >= 0; i-- {
			x = x<<8 | uint64(r.s[r.p+i])
		}
		r.p += 8
		return math.Float64frombits(x)
	}
}

func (r *rbuf) time(base int64) time.Time {
	h := r.u()
	var t time.Time
	switch h & 3 {
	case timeDelta:
		t = time.Unix(0, base+r.i())
	case timeAbs:
		s := r.i()
		t = time.Unix(s, int64(r.u()))
	}
	switch loc := h >> 2; loc {
	case 0:
		if h&3 != timeZero {
			t = t.UTC()
		}
	case 1:
		t = t.In(time.Local)
	default:
		t = t.In(r.c.locs[loc-2])
	}
	return t
}

func (r *rbuf) m() map[string]any {
	n := r.u()
	if n == 0 {
		return nil
	}
	m := make(map[string]any, n-1)
	for range n - 1 {
		k := r.str()
		m[k] = r.val()
	}
	return m
}

func (r *rbuf) val() any {
	switch tag := r.byte1(); tag {
	case valNil:
		return nil
	case valFalse:
		return false
	case valTrue:
		return true
	case valFloatInt:
		return float64(r.i())
	case valFloat:
		r.p--
		return r.float()
	case valString:
		return r.str()
	case valMap:
		return r.m()
	case valSlice:
		n := r.u()
		if n == 0 {
			return []any(nil)
		}
		s := make([]any, n-1)
		for i := range s {
			s[i] = r.val()
		}
		return s
	case valInt:
		return int(r.i())
	case valInt64:
		return r.i()
	case valStrings:
		n := r.u()
		if n == 0 {
			return []string(nil)
		}
		s := make([]string, n-1)
		for i := range s {
			s[i] = r.str()
		}
		return s
	case valMapOfMaps:
		n := r.u()
		if n == 0 {
			return map[string]map[string]any(nil)
		}
		m := make(map[string]map[string]any, n-1)
		for range n - 1 {
			k := r.str()
			m[k] = r.m()
		}
		return m
	default:
		panic("memstore: corrupt record")
	}
}

func (r *rbuf) errorInfo() *core.ErrorInfo {
	if r.byte1() == 0 {
		return nil
	}
	return &core.ErrorInfo{Code: r.str(), Message: r.str(), Details: r.val()}
}

func (r *rbuf) result() *core.Result {
	if r.byte1() == 0 {
		return nil
	}
	return &core.Result{Status: r.str(), Data: r.m(), Error: r.errorInfo()}
}

// isPacked reports whether str packs s (a UUID or "task-" + a UUID).
func isPacked(s string) bool {
	if len(s) == 41 && s[:5] == "task-" {
		s = s[5:]
	}
	_, ok := uuid.Parse(s)
	return ok
}

func unpackUUID(prefix, raw string) string {
	return string(uuid.Append(append(make([]byte, 0, len(prefix)+36), prefix...), raw))
}

// Job records.

// Job field bits, the common ones first (the mask is a uvarint).
const (
	jBlueprint = 1 << iota
	jVersion
	jRev
	jState
	jStatus
	jInput
	jTasks
	jSteps
	jCreatedAt
	jUpdatedAt
	jClient
	jHistory
	jResult
	jFinishedAt
	jResults
	jBranchesDone
	jApprovalMessage
	jChild
	jParent
	jTimer
	jError
	jWebhookURL
	jMetadata
	jSecurity
	jDispatchTimeout
	jResultTimeout
	jProgress
	jProgressMessage
)

// maxInlineRefs is the longest list of task refs kept in a job's record;
// a longer one (a parallel state) is kept as the shared, immutable
// core.TaskRefs value it is, so a fan-in does not encode every ref at
// every result.
const maxInlineRefs = 4

// A job's record is its key (its id, see appendKey), a uvarint of the
// length of its body << 1 | 1 when parts of the job are kept apart
// (memJobExt), the body (every field but the id: encodeJobBody) and its
// timeline's events (appendEvent), unless the timeline is kept apart.

// encodeJobBody encodes j's fields but its id, with Rev rev, in c.buf,
// and reports whether the body holds the task refs (false: keep j.Tasks
// beside it). ok is false when j holds a value the encoding does not keep.
func (c *memCodec) encodeJobBody(j *core.Job, rev int64) (body []byte, refsInline, ok bool) {
	w := wbuf{b: c.buf[:0], c: c}
	refsInline = j.Tasks.Len() <= maxInlineRefs
	var mask uint64
	set := func(bit uint64, on bool) {
		if on {
			mask |= bit
		}
	}
	set(jBlueprint, j.Blueprint != "")
	set(jVersion, j.Version != "")
	set(jRev, rev != 0)
	set(jState, j.State != "")
	set(jStatus, j.Status != "")
	set(jInput, j.Input != nil)
	set(jTasks, j.Tasks.Len() > 0 && refsInline)
	set(jSteps, j.Steps != 0)
	set(jCreatedAt, !j.CreatedAt.IsZero() || j.CreatedAt.Location() != time.UTC)
	set(jUpdatedAt, !j.UpdatedAt.IsZero() || j.UpdatedAt.Location() != time.UTC)
	set(jClient, j.Client.Name != "" || j.Client.Plan != "" || j.Client.Fields != nil)
	set(jHistory, j.History != nil)
	set(jResult, j.Result != nil)
	set(jFinishedAt, !j.FinishedAt.IsZero() || j.FinishedAt.Location() != time.UTC)
	set(jResults, j.Results != nil)
	set(jBranchesDone, j.BranchesDone != 0)
	set(jApprovalMessage, j.ApprovalMessage != "")
	set(jChild, j.Child != "")
	set(jParent, j.Parent != nil)
	set(jTimer, j.Timer != "")
	set(jError, j.Error != nil)
	set(jWebhookURL, j.WebhookURL != "")
	set(jMetadata, j.Metadata != nil)
	set(jSecurity, j.Security != nil)
	set(jDispatchTimeout, j.DispatchTimeout != 0)
	set(jResultTimeout, j.ResultTimeout != 0)
	set(jProgress, j.Progress != 0 || math.Signbit(j.Progress))
	set(jProgressMessage, j.ProgressMessage != "")
	w.u(mask)
	base := nanos(j.CreatedAt)
	if mask&jBlueprint != 0 {
		w.sym(j.Blueprint)
	}
	if mask&jVersion != 0 {
		w.sym(j.Version)
	}
	if mask&jRev != 0 {
		w.i(rev)
	}
	if mask&jState != 0 {
		w.sym(j.State)
	}
	if mask&jStatus != 0 {
		w.sym(string(j.Status))
	}
	if mask&jInput != 0 {
		w.m(j.Input)
	}
	if mask&jTasks != 0 {
		w.u(uint64(j.Tasks.Len()))
		for _, ref := range j.Tasks.All() {
			w.ref(ref)
		}
	}
	if mask&jSteps != 0 {
		w.i(int64(j.Steps))
	}
	if mask&jCreatedAt != 0 {
		w.time(j.CreatedAt, c.epoch)
	}
	if mask&jUpdatedAt != 0 {
		w.time(j.UpdatedAt, base)
	}
	if mask&jClient != 0 {
		w.sym(j.Client.Name)
		w.sym(j.Client.Plan)
		w.m(j.Client.Fields)
	}
	if mask&jHistory != 0 {
		w.m(j.History)
	}
	if mask&jResult != 0 {
		w.result(j.Result)
	}
	if mask&jFinishedAt != 0 {
		w.time(j.FinishedAt, base)
	}
	if mask&jResults != 0 {
		w.u(uint64(len(j.Results)))
		for _, r := range j.Results {
			w.result(r)
		}
	}
	if mask&jBranchesDone != 0 {
		w.i(int64(j.BranchesDone))
	}
	if mask&jApprovalMessage != 0 {
		w.str(j.ApprovalMessage)
	}
	if mask&jChild != 0 {
		w.jobRef(j.Child)
	}
	if mask&jParent != 0 {
		w.jobRef(j.Parent.JobID)
		w.sym(j.Parent.State)
	}
	if mask&jTimer != 0 {
		w.str(j.Timer)
	}
	if mask&jError != 0 {
		w.errorInfo(j.Error)
	}
	if mask&jWebhookURL != 0 {
		w.str(j.WebhookURL)
	}
	if mask&jMetadata != 0 {
		w.m(j.Metadata)
	}
	if mask&jSecurity != 0 {
		w.val(j.Security)
	}
	if mask&jDispatchTimeout != 0 {
		w.dur(j.DispatchTimeout)
	}
	if mask&jResultTimeout != 0 {
		w.dur(j.ResultTimeout)
	}
	if mask&jProgress != 0 {
		w.float(j.Progress)
	}
	if mask&jProgressMessage != 0 {
		w.str(j.ProgressMessage)
	}
	c.buf = w.b
	if w.bad {
		return nil, false, false
	}
	return w.b, refsInline, true
}

// jobParts returns where a job record's body and timeline start.
func jobParts(rec string) (body, timeline int) {
	r := rbuf{s: rec}
	r.skipStr()
	n := int(r.u() >> 1)
	return r.p, r.p + n
}

// jobHasExt reports whether parts of the job are kept apart from its record.
func jobHasExt(rec string) bool {
	r := rbuf{s: rec}
	r.skipStr()
	return r.u()&1 != 0
}

// Task ref field bits.
const (
	rBranch = 1 << iota
	rAttempt
	rResult
	rTimer
)

func (w *wbuf) ref(ref core.TaskRef) {
	w.taskRef(ref.ID)
	w.sym(ref.Type)
	var mask byte
	if ref.Branch != 0 {
		mask |= rBranch
	}
	if ref.Attempt != 0 {
		mask |= rAttempt
	}
	if ref.Result != nil {
		mask |= rResult
	}
	if ref.Timer != "" {
		mask |= rTimer
	}
	w.byte1(mask)
	if mask&rBranch != 0 {
		w.i(int64(ref.Branch))
	}
	if mask&rAttempt != 0 {
		w.i(int64(ref.Attempt))
	}
	if mask&rResult != 0 {
		w.result(ref.Result)
	}
	if mask&rTimer != 0 {
		w.str(ref.Timer)
	}
}

func (r *rbuf) ref() core.TaskRef {
	ref := core.TaskRef{ID: r.str(), Type: r.str()}
	mask := r.byte1()
	if mask&rBranch != 0 {
		ref.Branch = int(r.i())
	}
	if mask&rAttempt != 0 {
		ref.Attempt = int(r.i())
	}
	if mask&rResult != 0 {
		ref.Result = r.result()
	}
	if mask&rTimer != 0 {
		ref.Timer = r.str()
	}
	return ref
}

// decodeJob decodes a job record. id, when not "", is the job's id (the
// caller's string is used instead of a new one).
func (c *memCodec) decodeJob(rec, id string) *core.Job {
	r := rbuf{s: rec, c: c}
	j := &core.Job{}
	if id != "" {
		r.skipStr()
		j.ID = id
	} else {
		j.ID = r.str()
	}
	r.u() // the body's length
	mask := r.u()
	if mask&jBlueprint != 0 {
		j.Blueprint = r.str()
	}
	if mask&jVersion != 0 {
		j.Version = r.str()
	}
	if mask&jRev != 0 {
		j.Rev = r.i()
	}
	if mask&jState != 0 {
		j.State = r.str()
	}
	if mask&jStatus != 0 {
		j.Status = core.Status(r.str())
	}
	if mask&jInput != 0 {
		j.Input = r.m()
	}
	if mask&jTasks != 0 {
		n := int(r.u())
		var refs [maxInlineRefs]core.TaskRef
		for i := range n {
			refs[i] = r.ref()
		}
		j.Tasks = core.NewTaskRefs(refs[:n]...)
	}
	if mask&jSteps != 0 {
		j.Steps = int(r.i())
	}
	if mask&jCreatedAt != 0 {
		j.CreatedAt = r.time(c.epoch)
	}
	base := nanos(j.CreatedAt)
	if mask&jUpdatedAt != 0 {
		j.UpdatedAt = r.time(base)
	}
	if mask&jClient != 0 {
		j.Client = core.Client{Name: r.str(), Plan: r.str(), Fields: r.m()}
	}
	if mask&jHistory != 0 {
		j.History = r.m()
	}
	if mask&jResult != 0 {
		j.Result = r.result()
	}
	if mask&jFinishedAt != 0 {
		j.FinishedAt = r.time(base)
	}
	if mask&jResults != 0 {
		j.Results = make([]*core.Result, r.u())
		for i := range j.Results {
			j.Results[i] = r.result()
		}
	}
	if mask&jBranchesDone != 0 {
		j.BranchesDone = int(r.i())
	}
	if mask&jApprovalMessage != 0 {
		j.ApprovalMessage = r.str()
	}
	if mask&jChild != 0 {
		j.Child = r.str()
	}
	if mask&jParent != 0 {
		j.Parent = &core.ParentRef{JobID: r.str(), State: r.str()}
	}
	if mask&jTimer != 0 {
		j.Timer = r.str()
	}
	if mask&jError != 0 {
		j.Error = r.errorInfo()
	}
	if mask&jWebhookURL != 0 {
		j.WebhookURL = r.str()
	}
	if mask&jMetadata != 0 {
		j.Metadata = r.m()
	}
	if mask&jSecurity != 0 {
		j.Security = r.val()
	}
	if mask&jDispatchTimeout != 0 {
		j.DispatchTimeout = r.dur()
	}
	if mask&jResultTimeout != 0 {
		j.ResultTimeout = r.dur()
	}
	if mask&jProgress != 0 {
		j.Progress = r.float()
	}
	if mask&jProgressMessage != 0 {
		j.ProgressMessage = r.str()
	}
	return j
}

// jobHead reads a job record's rev and status without decoding the rest.
func (c *memCodec) jobHead(rec string) (rev int64, status core.Status) {
	r := rbuf{s: rec, c: c}
	r.skipStr()
	r.u() // the body's length
	mask := r.u()
	if mask&jBlueprint != 0 {
		r.skipStr()
	}
	if mask&jVersion != 0 {
		r.skipStr()
	}
	if mask&jRev != 0 {
		rev = r.i()
	}
	if mask&jState != 0 {
		r.skipStr()
	}
	if mask&jStatus != 0 {
		status = core.Status(r.str())
	}
	return rev, status
}

// Timeline events.

// Event field bits.
const (
	eState = 1 << iota
	ePrevState
	eNextState
	eTaskID
	eWorkerID
	eAttempt
	eDetail
	eAfter // the time is relative to the event before it (else absolute)
)

// appendEvent appends e to tl; prev is the event before it in the same
// commit (nil for the first). ok is false when e holds a value the
// encoding does not keep (tl is then unchanged).
func (c *memCodec) appendEvent(tl []byte, e *core.TimelineEvent, prev *core.TimelineEvent) (out []byte, ok bool) {
	w := wbuf{b: tl, c: c}
	var mask byte
	if e.State != "" {
		mask |= eState
	}
	if e.PrevState != "" {
		mask |= ePrevState
	}
	if e.NextState != "" {
		mask |= eNextState
	}
	if e.TaskID != "" {
		mask |= eTaskID
	}
	if e.WorkerID != "" {
		mask |= eWorkerID
	}
	if e.Attempt != 0 {
		mask |= eAttempt
	}
	if e.Detail != nil {
		mask |= eDetail
	}
	base := c.epoch
	if prev != nil {
		mask |= eAfter
		base = nanos(prev.At)
	}
	w.byte1(mask)
	w.sym(e.Type)
	w.time(e.At, base)
	if mask&eState != 0 {
		w.sym(e.State)
	}
	if mask&ePrevState != 0 {
		w.sym(e.PrevState)
	}
	if mask&eNextState != 0 {
		w.sym(e.NextState)
	}
	if mask&eTaskID != 0 {
		w.taskRef(e.TaskID)
	}
	if mask&eWorkerID != 0 {
		w.sym(e.WorkerID)
	}
	if mask&eAttempt != 0 {
		w.i(int64(e.Attempt))
	}
	if mask&eDetail != 0 {
		w.m(e.Detail)
	}
	if w.bad {
		return tl[:len(tl):len(tl)], false
	}
	return w.b, true
}

// decodeTimeline decodes every event of tl.
func (c *memCodec) decodeTimeline(tl string) []core.TimelineEvent {
	r := rbuf{s: tl, c: c}
	out := []core.TimelineEvent{}
	for r.p < len(r.s) {
		mask := r.byte1()
		var e core.TimelineEvent
		e.Type = r.str()
		base := c.epoch
		if mask&eAfter != 0 && len(out) > 0 {
			base = nanos(out[len(out)-1].At)
		}
		e.At = r.time(base)
		if mask&eState != 0 {
			e.State = r.str()
		}
		if mask&ePrevState != 0 {
			e.PrevState = r.str()
		}
		if mask&eNextState != 0 {
			e.NextState = r.str()
		}
		if mask&eTaskID != 0 {
			e.TaskID = r.str()
		}
		if mask&eWorkerID != 0 {
			e.WorkerID = r.str()
		}
		if mask&eAttempt != 0 {
			e.Attempt = int(r.i())
		}
		if mask&eDetail != 0 {
			e.Detail = r.m()
		}
		out = append(out, e)
	}
	return out
}

// Task records.

// Task field bits.
const (
	tParams = 1 << iota
	tPriority
	tBranch
	tAttempt
	tTimeout
	tDispatchTimeout
	tStrategy
	tRequires
	tMaxCost
	tMetadata
	tSecurity
	tTracingContext
	tEnqueuedAt
)

// A task record ends with its lease: LeasedAt and LeaseUntil (a mask
// byte, bit 0 and 1, then the times), then the length of the lease in
// one byte (0: no lease), so a lease is set without decoding the rest.
const (
	lLeasedAt = 1 << iota
	lLeaseUntil
)

// encodeTask returns t's record, without its Worker (the store keeps it
// beside the record). ok is false when t holds a value the encoding does
// not keep.
func (c *memCodec) encodeTask(t *core.Task) (rec string, ok bool) {
	w := wbuf{b: c.buf[:0], c: c}
	w.str(t.ID)
	w.jobRef(t.JobID)
	w.sym(t.Type)
	var mask uint64
	set := func(bit uint64, on bool) {
		if on {
			mask |= bit
		}
	}
	set(tParams, t.Params != nil)
	set(tPriority, t.Priority != 0 || math.Signbit(t.Priority))
	set(tBranch, t.Branch != 0)
	set(tAttempt, t.Attempt != 0)
	set(tTimeout, t.Timeout != 0)
	set(tDispatchTimeout, t.DispatchTimeout != 0)
	set(tStrategy, t.Strategy != "")
	set(tRequires, t.Requires != nil)
	set(tMaxCost, t.MaxCost != nil)
	set(tMetadata, t.Metadata != nil)
	set(tSecurity, t.Security != nil)
	set(tTracingContext, t.TracingContext != nil)
	set(tEnqueuedAt, !t.EnqueuedAt.IsZero() || t.EnqueuedAt.Location() != time.UTC)
	w.u(mask)
	if mask&tParams != 0 {
		w.m(t.Params)
	}
	if mask&tPriority != 0 {
		w.float(t.Priority)
	}
	if mask&tBranch != 0 {
		w.i(int64(t.Branch))
	}
	if mask&tAttempt != 0 {
		w.i(int64(t.Attempt))
	}
	if mask&tTimeout != 0 {
		w.dur(t.Timeout)
	}
	if mask&tDispatchTimeout != 0 {
		w.dur(t.DispatchTimeout)
	}
	if mask&tStrategy != 0 {
		w.sym(t.Strategy)
	}
	if mask&tRequires != 0 {
		w.m(t.Requires)
	}
	if mask&tMaxCost != 0 {
		w.float(*t.MaxCost)
	}
	if mask&tMetadata != 0 {
		w.m(t.Metadata)
	}
	if mask&tSecurity != 0 {
		w.val(t.Security)
	}
	if mask&tTracingContext != 0 {
		w.m(t.TracingContext)
	}
	if mask&tEnqueuedAt != 0 {
		w.time(t.EnqueuedAt, c.epoch)
	}
	w.lease(t.LeasedAt, t.LeaseUntil)
	c.buf = w.b
	if w.bad {
		return "", false
	}
	return string(w.b), true
}

func (w *wbuf) lease(at, until time.Time) {
	var mask byte
	if !at.IsZero() || at.Location() != time.UTC {
		mask |= lLeasedAt
	}
	if !until.IsZero() || until.Location() != time.UTC {
		mask |= lLeaseUntil
	}
	if mask == 0 {
		w.byte1(0)
		return
	}
	start := len(w.b)
	w.byte1(mask)
	if mask&lLeasedAt != 0 {
		w.time(at, w.c.epoch)
	}
	if mask&lLeaseUntil != 0 {
		w.time(until, nanos(at))
	}
	w.byte1(byte(len(w.b) - start))
}

// setLease returns the task record rec with its lease set to at, until.
func (c *memCodec) setLease(rec string, at, until time.Time) string {
	w := wbuf{b: c.buf[:0], c: c}
	w.lease(at, until)
	c.buf = w.b
	return rec[:len(rec)-1-int(rec[len(rec)-1])] + string(w.b)
}

// decodeTask decodes a task record; worker is its Worker.
func (c *memCodec) decodeTask(rec, worker string) *core.Task {
	r := rbuf{s: rec, c: c}
	t := &core.Task{ID: r.str(), JobID: r.str(), Type: r.str(), Worker: worker}
	mask := r.u()
	if mask&tParams != 0 {
		t.Params = r.m()
	}
	if mask&tPriority != 0 {
		t.Priority = r.float()
	}
	if mask&tBranch != 0 {
		t.Branch = int(r.i())
	}
	if mask&tAttempt != 0 {
		t.Attempt = int(r.i())
	}
	if mask&tTimeout != 0 {
		t.Timeout = r.dur()
	}
	if mask&tDispatchTimeout != 0 {
		t.DispatchTimeout = r.dur()
	}
	if mask&tStrategy != 0 {
		t.Strategy = r.str()
	}
	if mask&tRequires != 0 {
		t.Requires = r.m()
	}
	if mask&tMaxCost != 0 {
		f := r.float()
		t.MaxCost = &f
	}
	if mask&tMetadata != 0 {
		t.Metadata = r.m()
	}
	if mask&tSecurity != 0 {
		t.Security = r.val()
	}
	if mask&tTracingContext != 0 {
		t.TracingContext = r.m()
	}
	if mask&tEnqueuedAt != 0 {
		t.EnqueuedAt = r.time(c.epoch)
	}
	if r.s[len(r.s)-1] != 0 {
		lm := r.byte1()
		if lm&lLeasedAt != 0 {
			t.LeasedAt = r.time(c.epoch)
		}
		if lm&lLeaseUntil != 0 {
			t.LeaseUntil = r.time(nanos(t.LeasedAt))
		}
	}
	return t
}

// taskJobIs reports whether the task record belongs to job jobID,
// number job (or noJob).
func (c *memCodec) taskJobIs(rec, jobID string, job uint32) bool {
	r := rbuf{s: rec, c: c}
	r.skipStr()
	return r.strIs(jobID, job)
}

// taskType reads a task record's type.
func (c *memCodec) taskType(rec string) string {
	r := rbuf{s: rec, c: c}
	r.skipStr()
	r.skipStr()
	return r.str()
}

// taskID reads a task record's id.
func (c *memCodec) taskID(rec string) string {
	r := rbuf{s: rec, c: c}
	return r.str()
}
