package core

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

func refsOf(n int) []TaskRef {
	out := make([]TaskRef, n)
	for i := range out {
		out[i] = TaskRef{ID: fmt.Sprint("t", i), Type: "a", Branch: i, Attempt: 1}
	}
	return out
}

func TestTaskRefs(t *testing.T) {
	for _, n := range []int{0, 1, refChunk - 1, refChunk, refChunk + 1, 100} {
		src := refsOf(n)
		r := NewTaskRefs(src...)
		src = append(src[:0:0], src...)
		if r.Len() != n || r.IsZero() != (n == 0) || !slices.Equal(r.Slice(), src) && n > 0 {
			t.Fatalf("n=%d: len %d, slice %v", n, r.Len(), r.Slice())
		}
		for i, ref := range r.All() {
			if ref != src[i] || r.At(i) != src[i] {
				t.Fatalf("n=%d: ref %d is %+v, want %+v", n, i, ref, src[i])
			}
		}
		if n == 0 {
			continue
		}
		// With leaves the list it was called on as it was, and changes one ref.
		for _, i := range []int{0, n / 2, n - 1} {
			c := r.With(i, func(x *TaskRef) { x.Result = &Result{Status: "success"}; x.Attempt = 9 })
			if r.At(i).Result != nil || r.At(i).Attempt != 1 {
				t.Fatalf("n=%d: With(%d) changed the original: %+v", n, i, r.At(i))
			}
			if got := c.At(i); got.Result == nil || got.Attempt != 9 {
				t.Fatalf("n=%d: With(%d) did not change the copy: %+v", n, i, got)
			}
			for k := range n {
				if k != i && c.At(k) != r.At(k) {
					t.Fatalf("n=%d: With(%d) changed ref %d", n, i, k)
				}
			}
			if c.Equal(r) || !c.Equal(c.With(0, func(*TaskRef) {})) {
				t.Fatalf("n=%d: Equal is wrong after With(%d)", n, i)
			}
		}
		// JSON is a plain array, and comes back equal.
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(src)
		if string(b) != string(want) {
			t.Fatalf("n=%d: JSON %s, want %s", n, b, want)
		}
		var back TaskRefs
		if err := json.Unmarshal(b, &back); err != nil || !back.Equal(r) {
			t.Fatalf("n=%d: JSON round trip: %v, %v", n, err, back.Slice())
		}
	}
	if err := json.Unmarshal([]byte(`{"id":1}`), new(TaskRefs)); err == nil {
		t.Fatal("an object decoded as task refs")
	}
}

// Two refs changed in one step share one copy of their chunk, and the job
// the step read keeps its own.
func TestRefOwnerCopiesOnce(t *testing.T) {
	orig := NewTaskRefs(refsOf(3 * refChunk)...)
	r := orig
	var own refOwner
	own.ref(&r, 1).Attempt = 2
	first := &r.chunks[0][0]
	own.ref(&r, 2).Attempt = 3
	if &r.chunks[0][0] != first {
		t.Fatal("a second change in the same chunk copied it again")
	}
	own.ref(&r, 2*refChunk).Attempt = 4
	if &r.chunks[1][0] != &orig.chunks[1][0] {
		t.Fatal("an untouched chunk was copied")
	}
	if orig.At(1).Attempt != 1 || orig.At(2).Attempt != 1 || orig.At(2*refChunk).Attempt != 1 {
		t.Fatal("changes reached the original list")
	}
	if r.At(1).Attempt != 2 || r.At(2).Attempt != 3 || r.At(2*refChunk).Attempt != 4 {
		t.Fatal("changes were lost")
	}
}

func TestTaskRefsAtOutOfRangePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("At(3) of 3 refs did not panic")
		}
	}()
	NewTaskRefs(refsOf(3)...).At(3)
}
