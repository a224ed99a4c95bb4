package console

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/goccy/go-graphviz"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
)

// graphCacheSize is how many rendered versions are kept.
const graphCacheSize = 128

// graphs lays out blueprint versions with Graphviz (compiled to
// WebAssembly and run in-process) and keeps the SVGs by version hash.
type graphs struct {
	x     *orchestrator.Orchestrator
	mu    sync.Mutex // one layout at a time: the engine is not reentrant
	gv    *graphviz.Graphviz
	cache map[string][]byte
	order []string
}

func newGraphs(x *orchestrator.Orchestrator) *graphs {
	return &graphs{x: x, cache: map[string][]byte{}}
}

// machine finds a blueprint's current version, or the given version
// (rebuilt from the store when this instance has not loaded it).
func (g *graphs) machine(ctx context.Context, name, version string) (*lang.Machine, error) {
	reg := g.x.Registry()
	if version == "" {
		if m := reg.Current(name); m != nil {
			return m, nil
		}
		return nil, fmt.Errorf("no blueprint %q", name)
	}
	if m := reg.ByHash(version); m != nil && m.Name == name {
		return m, nil
	}
	v, err := g.x.Store().Version(ctx, version)
	if err != nil {
		return nil, fmt.Errorf("no version %q of blueprint %q", version, name)
	}
	m, err := lang.Rebuild(v.File, v.Sources)
	if err != nil || m.Name != name {
		return nil, fmt.Errorf("no version %q of blueprint %q", version, name)
	}
	return reg.Add(m), nil
}

// svg renders the machine's DOT as SVG.
func (g *graphs) svg(ctx context.Context, m *lang.Machine) ([]byte, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.cache[m.Hash]; ok {
		return b, nil
	}
	if g.gv == nil {
		gv, err := graphviz.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("start graphviz: %w", err)
		}
		g.gv = gv
	}
	gr, err := graphviz.ParseBytes([]byte(m.DOT()))
	if err != nil {
		return nil, fmt.Errorf("parse the graph of %s: %w", m.Name, err)
	}
	defer gr.Close()
	var buf bytes.Buffer
	if err := g.gv.Render(ctx, gr, graphviz.SVG, &buf); err != nil {
		return nil, fmt.Errorf("lay out %s: %w", m.Name, err)
	}
	b := buf.Bytes()
	if len(g.order) >= graphCacheSize {
		delete(g.cache, g.order[0])
		g.order = g.order[1:]
	}
	g.cache[m.Hash] = b
	g.order = append(g.order, m.Hash)
	return b, nil
}
