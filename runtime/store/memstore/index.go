package memstore

import "hash/maphash"

// idIndex maps the ids of jobs (or tasks) to their numbers without
// holding the ids: an open-addressing table of 64-bit slots, each 32 bits
// of the id's hash and the number + 1 (0: empty), probed linearly from
// the hash. A hash match is confirmed against the record, which starts
// with the id's key (codec.AppendKey). Entries are never
// removed. About 10-16 bytes per id.
type idIndex struct {
	slots []uint64
	n     int
	seed  maphash.Seed
	rec   func(uint32) string // the record of a number
}

func newIDIndex(rec func(uint32) string) idIndex {
	return idIndex{slots: make([]uint64, 64), seed: maphash.MakeSeed(), rec: rec}
}

func (x *idIndex) hash(key []byte) uint32 {
	return uint32(maphash.Bytes(x.seed, key) >> 32)
}

// find returns the number whose record starts with key.
func (x *idIndex) find(key []byte) (uint32, bool) {
	h := x.hash(key)
	mask := uint32(len(x.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := x.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == h {
			n := uint32(s) - 1
			if r := x.rec(n); len(r) >= len(key) && r[:len(key)] == string(key) {
				return n, true
			}
		}
	}
}

// add indexes number n under key (not in the index yet).
func (x *idIndex) add(key []byte, n uint32) {
	if (x.n+1)*5 > len(x.slots)*4 { // load 0.8 at most
		x.grow()
	}
	x.put(uint64(x.hash(key))<<32 | uint64(n+1))
	x.n++
}

func (x *idIndex) put(s uint64) {
	mask := uint32(len(x.slots) - 1)
	for i := uint32(s>>32) & mask; ; i = (i + 1) & mask {
		if x.slots[i] == 0 {
			x.slots[i] = s
			return
		}
	}
}

func (x *idIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, 2*len(old))
	for _, s := range old {
		if s != 0 {
			x.put(s)
		}
	}
}
