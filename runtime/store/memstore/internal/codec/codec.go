// Package codec is the memory store's compact binary form of jobs,
// timelines and tasks: it encodes the values it is given into one string
// or byte slice each, and decodes them back, exactly.
//
// The codec holds no records and looks nothing up. Where a record names
// another job or task of the store (a job's task refs, its child and
// parent, a timeline event's task, a task's job), the store gives the
// number it keeps that job or task under, and the record holds the number
// instead of the id; decoding hands the numbers back (JobRefs, EventRef,
// DecodeTask) for the store to turn into ids.
//
// Encoding returns an error for a value it cannot keep. Decoding trusts
// its input, which only the store writes: a malformed record panics.
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// The memory store keeps jobs, timelines and tasks in this form and
// decodes them on access, so a queued job costs a few hundred bytes
// instead of a tree of Go values.
//
// The encoding keeps Go values exactly: JSON values keep their Go types
// (float64, int, int64, string, bool, nil, map[string]any, []any,
// []string, map[string]map[string]any, nil maps and slices told from
// empty ones), times keep their instant and location (not a monotonic
// clock reading, which a stored value has no use for). A value of any
// other type is an error wrapping ErrType; the store then keeps that job,
// timeline or task as Go values.
//
// Strings come in three forms: UUIDs (and "task-" + a UUID, the engine's
// task ids) packed in 16 bytes, names interned in a table of the store
// (blueprints, versions, states, statuses, task types, map keys: sym),
// and the rest as they are. Every field is optional: a record starts
// with a mask of the fields it holds.

// Codec holds the tables an encoding refers to. It belongs to one store
// and is not safe for concurrent use (the store uses it under its lock).
type Codec struct {
	syms  []string          // interned names, by index
	symIx map[string]uint32 // name -> index
	locs  []*time.Location  // locations other than UTC and Local
	epoch int64             // Unix nanoseconds some times are stored relative to
	buf   []byte            // scratch for encoding
}

// None is no number: the id is written out as it is.
const None uint32 = math.MaxUint32

// ErrType is wrapped by an encoding error: a value has a Go type the
// encoding does not keep.
var ErrType = errors.New("value of a type the encoding does not keep")

// Interning limits: only short names, and only so many (a table full of
// one-off strings must not grow without bound; past the limit names are
// written as they are).
const (
	maxSymLen = 64
	maxSyms   = 1 << 16
)

// New returns a codec with empty tables.
func New() *Codec {
	// Room for the names one blueprint's jobs use (states, task types,
	// keys), so a new store does not grow its table name by name.
	return &Codec{symIx: make(map[string]uint32, 128), syms: make([]string, 0, 128), epoch: nanos(time.Now())}
}

// String tags: the low 3 bits of a string's leading uvarint.
const (
	strLiteral = 0 // length << 3, then the bytes
	strSym     = 1 // index << 3
	strUUID    = 2 // then 16 bytes
	strTaskID  = 3 // "task-" + UUID; then 16 bytes
	strTaskNo  = 4 // the id of the store's task number << 3
	strJobNo   = 5 // the id of the store's job number << 3

	// A number is written for ids only where the store gives one (job
	// and task refs); anywhere else it makes a record malformed.
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

// wbuf appends an encoding to b. bad is set to the first value of a type
// the encoding does not keep; the caller then keeps the Go value instead.
type wbuf struct {
	b   []byte
	c   *Codec
	bad any
	odd bool
}

// err is the encoding's error: nil, or one wrapping ErrType.
func (w *wbuf) err() error {
	if !w.odd {
		return nil
	}
	return fmt.Errorf("encode %T: %w", w.bad, ErrType)
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

// taskRef writes the id of a task: its number n unless n is None.
func (w *wbuf) taskRef(s string, n uint32) {
	if n != None {
		w.u(uint64(n)<<3 | strTaskNo)
		return
	}
	w.str(s)
}

// jobRef writes the id of a job: its number n unless n is None.
func (w *wbuf) jobRef(s string, n uint32) {
	if n != None {
		w.u(uint64(n)<<3 | strJobNo)
		return
	}
	w.str(s)
}

// AppendKey appends the key of an id: what the record of the job or task
// starts with (Key reads it back).
func AppendKey(b []byte, id string) []byte {
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

func (c *Codec) loc(l *time.Location) uint64 {
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
		if !w.odd {
			w.bad, w.odd = v, true
		}
	}
}

func (w *wbuf) errorInfo(e *wire.Error) {
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
	c *Codec
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
	return r.strOf(r.u())
}

// ref reads the id of a job or task: the id, or "" and the number the
// store gave for it (None when the id is written out).
func (r *rbuf) ref() (string, uint32) {
	h := r.u()
	if k := h & 7; k == strTaskNo || k == strJobNo {
		return "", uint32(h >> 3)
	}
	return r.strOf(h), None
}

// strOf reads the string whose leading uvarint is h.
func (r *rbuf) strOf(h uint64) string {
	switch h & 7 {
	case strSym:
		return r.c.syms[h>>3]
	case strTaskNo, strJobNo:
		panic("memstore codec: a number where no id refers to the store")
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

// refIs reports whether the id at the read position is s, and skips it.
// n is the number the store keeps s under, or None: an id written as a
// number is s when the numbers are the same.
func (r *rbuf) refIs(s string, n uint32) bool {
	h := r.u()
	switch h & 7 {
	case strSym:
		return r.c.syms[h>>3] == s
	case strJobNo, strTaskNo:
		return n != None && uint32(h>>3) == n
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
	l := int(h >> 3)
	t := r.s[r.p : r.p+l]
	r.p += l
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
		panic("memstore codec: corrupt record")
	}
}

func (r *rbuf) errorInfo() *wire.Error {
	if r.byte1() == 0 {
		return nil
	}
	return &wire.Error{Code: r.str(), Message: r.str(), Details: r.val()}
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
	jApprovalDeadline
	jChildren
)

// MaxInlineRefs is the longest list of task refs kept in a job's record;
// a longer one (a parallel state) is kept as the shared, immutable
// core.TaskRefs value it is, so a fan-in does not encode every ref at
// every result.
const MaxInlineRefs = 4

// A job's record is its key (its id, see AppendKey), a uvarint of the
// length of its body << 1 | 1 when parts of the job are kept apart
// (JobHasExt), the body (every field but the id: EncodeJobBody) and its
// timeline's events (AppendEvent), unless the timeline is kept apart.
// The store puts the parts together; JobParts finds them.

// JobRefs are the numbers of the jobs and tasks a job's record names, or
// None where the id is written out. The store gives them to EncodeJobBody
// (the numbers of the ids it holds) and DecodeJob hands them back.
type JobRefs struct {
	Child  uint32                // Job.Child
	Parent uint32                // Job.Parent.JobID
	Tasks  [MaxInlineRefs]uint32 // the ids of Job.Tasks, when the record holds them
}

// NoRefs returns JobRefs naming nothing by number.
func NoRefs() JobRefs {
	return JobRefs{Child: None, Parent: None, Tasks: [MaxInlineRefs]uint32{None, None, None, None}}
}

// EncodeJobBody encodes j's fields but its id, with Rev rev, and reports
// whether the body holds the task refs (false: keep j.Tasks beside it).
// refs holds the numbers to write for the ids j names. The body is valid
// until the next call. An error wraps ErrType.
func (c *Codec) EncodeJobBody(j *core.Job, rev int64, refs *JobRefs) (body []byte, refsInline bool, err error) {
	w := wbuf{b: c.buf[:0], c: c}
	refsInline = j.Tasks.Len() <= MaxInlineRefs
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
	set(jApprovalDeadline, !j.ApprovalDeadline.IsZero() || j.ApprovalDeadline.Location() != time.UTC)
	set(jChildren, j.Children != nil)
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
		for i, ref := range j.Tasks.All() {
			w.ref(ref, refs.Tasks[i])
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
		w.jobRef(j.Child, refs.Child)
	}
	if mask&jParent != 0 {
		w.jobRef(j.Parent.JobID, refs.Parent)
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
	if mask&jApprovalDeadline != 0 {
		w.time(j.ApprovalDeadline, base)
	}
	if mask&jChildren != 0 {
		w.u(uint64(len(j.Children)))
		for _, id := range j.Children {
			w.str(id)
		}
	}
	c.buf = w.b
	if err := w.err(); err != nil {
		return nil, false, err
	}
	return w.b, refsInline, nil
}

// JobParts returns where a job record's body and timeline start.
func JobParts(rec string) (body, timeline int) {
	r := rbuf{s: rec}
	r.skipStr()
	n := int(r.u() >> 1)
	return r.p, r.p + n
}

// JobHasExt reports whether the record says parts of the job are kept
// apart from it.
func JobHasExt(rec string) bool {
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

func (w *wbuf) ref(ref core.TaskRef, n uint32) {
	w.taskRef(ref.ID, n)
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

// taskRef reads a task ref; n is the number of its id (ID left "") or None.
func (r *rbuf) taskRef() (ref core.TaskRef, n uint32) {
	ref.ID, n = r.ref()
	ref.Type = r.str()
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
	return ref, n
}

// DecodedJob is a job as its record holds it.
type DecodedJob struct {
	// Job is the job. Each id its record holds as a number is "", the
	// number in Refs; Job.Tasks is empty when the record holds the refs:
	// they are Tasks[:NTasks], their ids "" where Refs.Tasks has a number.
	Job    *core.Job
	Refs   JobRefs
	Tasks  [MaxInlineRefs]core.TaskRef
	NTasks int
}

// DecodeJob decodes a job record into d. id, when not "", is the job's
// id (the caller's string is used instead of a new one).
func (c *Codec) DecodeJob(rec, id string, d *DecodedJob) {
	r := rbuf{s: rec, c: c}
	j := &core.Job{}
	d.Job, d.Refs, d.NTasks = j, NoRefs(), 0
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
		j.Status = wire.JobStatus(r.str())
	}
	if mask&jInput != 0 {
		j.Input = r.m()
	}
	if mask&jTasks != 0 {
		d.NTasks = int(r.u())
		for i := range d.NTasks {
			d.Tasks[i], d.Refs.Tasks[i] = r.taskRef()
		}
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
		j.Child, d.Refs.Child = r.ref()
	}
	if mask&jParent != 0 {
		j.Parent = &core.ParentRef{}
		j.Parent.JobID, d.Refs.Parent = r.ref()
		j.Parent.State = r.str()
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
	if mask&jApprovalDeadline != 0 {
		j.ApprovalDeadline = r.time(base)
	}
	if mask&jChildren != 0 {
		j.Children = make([]string, r.u())
		for i := range j.Children {
			j.Children[i] = r.str()
		}
	}
}

// JobHead reads a job record's rev and status without decoding the rest.
func (c *Codec) JobHead(rec string) (rev int64, status wire.JobStatus) {
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
		status = wire.JobStatus(r.str())
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

// AppendEvent appends e to tl; prev is the event before it in the same
// commit (nil for the first), task the number of e.TaskID or None. An
// error wraps ErrType; tl is then unchanged.
func (c *Codec) AppendEvent(tl []byte, e, prev *core.TimelineEvent, task uint32) ([]byte, error) {
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
		w.taskRef(e.TaskID, task)
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
	if err := w.err(); err != nil {
		return tl[:len(tl):len(tl)], err
	}
	return w.b, nil
}

// EventRef says that event Event of a decoded timeline names task number
// Task (its TaskID is left "").
type EventRef struct {
	Event int
	Task  uint32
}

// DecodeTimeline decodes every event of tl, and appends to refs the task
// numbers the events name.
func (c *Codec) DecodeTimeline(tl string, refs []EventRef) ([]core.TimelineEvent, []EventRef) {
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
			var n uint32
			if e.TaskID, n = r.ref(); n != None {
				refs = append(refs, EventRef{Event: len(out), Task: n})
			}
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
	return out, refs
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

// EncodeTask returns t's record, without its Worker (the store keeps it
// beside the record); job is the number of t.JobID or None. An error
// wraps ErrType.
func (c *Codec) EncodeTask(t *core.Task, job uint32) (string, error) {
	w := wbuf{b: c.buf[:0], c: c}
	w.str(t.ID)
	w.jobRef(t.JobID, job)
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
	if err := w.err(); err != nil {
		return "", err
	}
	return string(w.b), nil
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

// SetLease returns the task record rec with its lease set to at, until.
func (c *Codec) SetLease(rec string, at, until time.Time) string {
	w := wbuf{b: c.buf[:0], c: c}
	w.lease(at, until)
	c.buf = w.b
	return rec[:len(rec)-1-int(rec[len(rec)-1])] + string(w.b)
}

// DecodeTask decodes a task record; worker is its Worker. job is the
// number of its job (JobID left "") or None.
func (c *Codec) DecodeTask(rec, worker string) (t *core.Task, job uint32) {
	r := rbuf{s: rec, c: c}
	t = &core.Task{ID: r.str(), Worker: worker}
	t.JobID, job = r.ref()
	t.Type = r.str()
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
	return t, job
}

// TaskJobIs reports whether the task record belongs to job jobID, which
// the store keeps under number job (None when it holds no such job).
func (c *Codec) TaskJobIs(rec, jobID string, job uint32) bool {
	r := rbuf{s: rec, c: c}
	r.skipStr()
	return r.refIs(jobID, job)
}

// TaskType reads a task record's type.
func (c *Codec) TaskType(rec string) string {
	r := rbuf{s: rec, c: c}
	r.skipStr()
	r.skipStr()
	return r.str()
}

// Key reads the id a job or task record starts with (AppendKey).
func Key(rec string) string {
	r := rbuf{s: rec}
	return r.str()
}

// KeyLen is the length of the key a job or task record starts with: a
// record cut to it (a tombstone) still names its id (Key).
func KeyLen(rec string) int {
	r := rbuf{s: rec}
	r.skipStr()
	return r.p
}
