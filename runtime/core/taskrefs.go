package core

import (
	"encoding/json"
	"iter"
	"reflect"
	"slices"
)

// refChunk is how many task refs one chunk of a TaskRefs holds.
const refChunk = 32

// TaskRefs is the list of tasks a job waits on (Job.Tasks): an immutable
// vector kept in chunks of 32, so that a step recording one branch's
// result copies that chunk and the list of chunk pointers (n/32 words),
// not all n refs. A fan-in of n branches then costs O(n) steps of nearly
// constant work instead of O(n) steps of O(n) copying.
//
// The zero value is the empty list. Values are shared between the jobs a
// step makes and the job it read: never change a ref's Result through a
// TaskRefs. In JSON it is an array of refs.
type TaskRefs struct {
	n      int
	chunks [][]TaskRef // each refChunk long but the last, sized exactly
}

// NewTaskRefs returns a list holding a copy of refs.
func NewTaskRefs(refs ...TaskRef) TaskRefs {
	if len(refs) == 0 {
		return TaskRefs{}
	}
	r := TaskRefs{n: len(refs), chunks: make([][]TaskRef, (len(refs)+refChunk-1)/refChunk)}
	for c := range r.chunks {
		r.chunks[c] = slices.Clone(refs[c*refChunk : min((c+1)*refChunk, len(refs))])
	}
	return r
}

// Len is the number of refs.
func (r TaskRefs) Len() int { return r.n }

// IsZero reports an empty list (JSON omitzero).
func (r TaskRefs) IsZero() bool { return r.n == 0 }

// At returns the i-th ref; it panics when i is out of range, as indexing a
// slice does.
func (r TaskRefs) At(i int) TaskRef {
	if i < 0 || i >= r.n {
		panic("core.TaskRefs: index out of range")
	}
	return r.chunks[i/refChunk][i%refChunk]
}

// All yields the refs in order with their index.
func (r TaskRefs) All() iter.Seq2[int, TaskRef] {
	return func(yield func(int, TaskRef) bool) {
		for i := range r.n {
			if !yield(i, r.chunks[i/refChunk][i%refChunk]) {
				return
			}
		}
	}
}

// Slice returns the refs as a new slice (nil when empty).
func (r TaskRefs) Slice() []TaskRef {
	if r.n == 0 {
		return nil
	}
	out := make([]TaskRef, 0, r.n)
	for _, c := range r.chunks {
		out = append(out, c...)
	}
	return out
}

// With returns a list whose i-th ref is changed by f; r is unchanged.
func (r TaskRefs) With(i int, f func(*TaskRef)) TaskRefs {
	var own refOwner
	f(own.ref(&r, i))
	return r
}

// Equal reports whether both lists hold equal refs (results compared
// deeply), for go-cmp and tests.
func (r TaskRefs) Equal(o TaskRefs) bool {
	if r.n != o.n {
		return false
	}
	for i := range r.n {
		if !reflect.DeepEqual(r.At(i), o.At(i)) {
			return false
		}
	}
	return true
}

// MarshalJSON writes the refs as an array.
func (r TaskRefs) MarshalJSON() ([]byte, error) {
	s := r.Slice()
	if s == nil {
		return []byte("[]"), nil
	}
	return json.Marshal(s)
}

// UnmarshalJSON reads an array of refs.
func (r *TaskRefs) UnmarshalJSON(b []byte) error {
	var s []TaskRef
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r = NewTaskRefs(s...)
	return nil
}

// refOwner tracks the chunks of one TaskRefs that a step has copied, so
// that the step changes refs in place after the first copy and never
// touches a chunk the job it read still holds.
type refOwner struct {
	all    bool  // every chunk is the step's own (a list it built)
	chunks []int // the chunks copied so far
}

// ref returns a pointer to the i-th ref of *r that may be written.
func (o *refOwner) ref(r *TaskRefs, i int) *TaskRef {
	if i < 0 || i >= r.n {
		panic("core.TaskRefs: index out of range")
	}
	c := i / refChunk
	if !o.all && !slices.Contains(o.chunks, c) {
		if len(o.chunks) == 0 {
			r.chunks = slices.Clone(r.chunks)
		}
		r.chunks[c] = slices.Clone(r.chunks[c])
		o.chunks = append(o.chunks, c)
	}
	return &r.chunks[c][i%refChunk]
}
