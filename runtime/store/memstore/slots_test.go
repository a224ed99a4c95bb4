package memstore

import "testing"

// Every slot number maps to its own slot, across the doubling chunks and
// the 1,024-slot ones, and a pointer taken early stays the slot's.
func TestSlots(t *testing.T) {
	t.Parallel()
	var s slots[int]
	first := (*int)(nil)
	const n = 5000
	for i := range n {
		if got := s.add(); got != uint32(i) {
			t.Fatalf("add %d returned %d", i, got)
		}
		*s.at(uint32(i)) = i + 1
		if i == 0 {
			first = s.at(0)
		}
	}
	for i := range n {
		if got := *s.at(uint32(i)); got != i+1 {
			t.Fatalf("slot %d holds %d, want %d", i, got, i+1)
		}
	}
	if first != s.at(0) {
		t.Error("growing moved slot 0")
	}
	// Chunks: 16, 32, 64, 128, 256, 512, then 1,024 each.
	want := []int{16, 32, 64, 128, 256, 512, 1024, 1024, 1024, 1024}
	if len(s.chunks) != len(want) {
		t.Fatalf("%d chunks, want %d", len(s.chunks), len(want))
	}
	for k, c := range s.chunks {
		if len(c) != want[k] {
			t.Errorf("chunk %d holds %d slots, want %d", k, len(c), want[k])
		}
	}
}
