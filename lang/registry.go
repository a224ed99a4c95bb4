package lang

import (
	"sync"
	"sync/atomic"
)

// Registry maps blueprint names and endpoints to their current machines,
// and every version hash ever loaded to its machine, so a running job
// keeps its version after a reload. Safe for concurrent use: readers
// never block on a swap.
type Registry struct {
	cur     atomic.Pointer[registryView]
	mu      sync.Mutex // serialises writers
	hashes  sync.Map   // hash -> *Machine
	refused atomic.Pointer[Diagnostics]
}

type registryView struct {
	set *Set
	gen uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.cur.Store(&registryView{set: &Set{}})
	return r
}

// Swap makes set the current blueprints, atomically, and forgets the
// findings of a refused load. Old versions stay reachable by hash.
func (r *Registry) Swap(set *Set) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range set.Machines {
		r.hashes.LoadOrStore(m.Hash, m)
	}
	r.cur.Store(&registryView{set: set, gen: r.cur.Load().gen + 1})
	r.refused.Store(nil)
}

// Refuse records the findings of a load that was not swapped in; the
// current set stays as it was.
func (r *Registry) Refuse(ds Diagnostics) {
	ds = append(Diagnostics(nil), ds...)
	r.refused.Store(&ds)
}

// Refused returns the findings of the last refused load, or nil when the
// last load was clean.
func (r *Registry) Refused() Diagnostics {
	if p := r.refused.Load(); p != nil {
		return *p
	}
	return nil
}

// Add records one machine version by hash (rebuilt from a store, say)
// without making it current.
func (r *Registry) Add(m *Machine) *Machine {
	v, _ := r.hashes.LoadOrStore(m.Hash, m)
	return v.(*Machine)
}

// Current returns the current machine of that name, or nil.
func (r *Registry) Current(name string) *Machine { return r.cur.Load().set.Lookup(name) }

// ByEndpoint returns the current machine serving that endpoint, or nil.
func (r *Registry) ByEndpoint(path string) *Machine { return r.cur.Load().set.ByEndpoint(path) }

// ByHash returns the machine of that version, or nil.
func (r *Registry) ByHash(hash string) *Machine {
	if v, ok := r.hashes.Load(hash); ok {
		return v.(*Machine)
	}
	return nil
}

// Set returns the current set.
func (r *Registry) Set() *Set { return r.cur.Load().set }

// Generation counts swaps; it changes whenever the current set does.
func (r *Registry) Generation() uint64 { return r.cur.Load().gen }
