package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

// newWatcher watches every folder under the blueprints folder; nil when
// the platform gives no file events (hot reload is then off, and said so).
func (x *Orchestrator) newWatcher() *fsnotify.Watcher {
	dir := x.cfg.BlueprintsDir
	w, err := fsnotify.NewWatcher()
	if err != nil {
		x.log.Error("watch blueprints: hot reload is off", "dir", dir, "err", err)
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if err := w.Add(p); err != nil {
				x.log.Warn("watch blueprints", "dir", p, "err", err)
			}
		}
		return nil
	})
	return w
}

// watch reloads the blueprints folder when a file in it changes: after
// 50 ms of quiet the folder is linted; a clean one is swapped in for new
// jobs, one with findings is refused (logged, shown by the API) and the
// last good version stays.
func (x *Orchestrator) watch(ctx context.Context, w *fsnotify.Watcher) {
	defer w.Close()
	var quiet <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op&fsnotify.Create != 0 {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = w.Add(ev.Name)
				}
			}
			quiet = time.After(50 * time.Millisecond)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			x.log.Warn("watch blueprints", "err", err)
		case <-quiet:
			quiet = nil
			x.Reload(ctx)
		}
	}
}

// ReloadReport says what one reload of the blueprints folder did.
type ReloadReport struct {
	At      time.Time
	Applied []AppliedBlueprint // new or changed blueprints now live
	Removed []string           // blueprints whose files are gone, by name
	Refused []RefusedBlueprint // files with errors, by file
}

// AppliedBlueprint is a blueprint whose new version went live.
type AppliedBlueprint struct {
	Name, Version, File string
}

// RefusedBlueprint is a blueprint file whose change was refused.
type RefusedBlueprint struct {
	File string
	Name string // "" when the file could not be read that far
	// Kept is the version that stays live, "" when there is none (a new
	// file, or a clash with a blueprint that went live).
	Kept string
	// Sub names the refused sub-blueprint that refused this one.
	Sub      string
	Findings lang.Diagnostics
}

// LastReload is the report of the last reload, nil before the first.
func (x *Orchestrator) LastReload() *ReloadReport { return x.lastReload.Load() }

// Reload lints the blueprints folder and applies it blueprint by
// blueprint: every file without errors goes live; a file with errors (or
// whose script has errors, or whose sub-blueprint is refused) keeps its
// last good version. A finding that belongs to no blueprint (the lint
// configuration, an unreadable folder) refuses the whole folder. It
// reports whether every change was taken.
func (x *Orchestrator) Reload(ctx context.Context) bool {
	defer x.reloaded()
	dir := x.cfg.BlueprintsDir
	set, ds := lang.LoadDir(dir)
	rep := &ReloadReport{At: x.now()}
	defer x.lastReload.Store(rep)
	if set == nil || folderErrors(set, ds) {
		x.reg.Refuse(ds)
		rep.Refused = []RefusedBlueprint{{File: dir, Findings: errorsOf(ds)}}
		x.log.Error("blueprints reload refused; keeping the last good versions", "dir", dir, "findings", len(ds), "first", ds[0].Error())
		x.obs.BlueprintsReloaded(nil, ds)
		return false
	}
	old := x.reg.Set()
	next := &lang.Set{Machines: append([]*lang.Machine(nil), set.Machines...), Refused: set.Refused}
	names, endpoints := map[string]bool{}, map[string]bool{}
	for _, m := range next.Machines {
		names[m.Name] = true
		endpoints[m.Endpoint] = true
	}
	for _, r := range set.Refused {
		rb := RefusedBlueprint{File: r.File, Name: r.Name, Sub: r.Sub, Findings: r.Findings}
		if m := lastGood(old, r); m != nil && !names[m.Name] && (m.Endpoint == "" || !endpoints[m.Endpoint]) {
			next.Machines = append(next.Machines, m)
			names[m.Name], endpoints[m.Endpoint] = true, true
			rb.Kept = m.Hash
			if rb.Name == "" {
				rb.Name = m.Name
			}
		}
		rep.Refused = append(rep.Refused, rb)
	}
	slices.SortFunc(next.Machines, func(a, b *lang.Machine) int { return strings.Compare(a.Name, b.Name) })
	for _, m := range set.Machines {
		if o := old.Lookup(m.Name); o == nil || o.Hash != m.Hash {
			rep.Applied = append(rep.Applied, AppliedBlueprint{Name: m.Name, Version: m.Hash, File: m.File})
		}
	}
	for _, m := range old.Machines {
		if !names[m.Name] {
			rep.Removed = append(rep.Removed, m.Name)
		}
	}
	if len(rep.Applied) > 0 || len(rep.Removed) > 0 {
		if err := x.install(ctx, next); err != nil {
			x.log.Error("blueprints reload", "err", err)
			rep.Applied, rep.Removed = nil, nil
			return false
		}
	}
	x.reg.Refuse(errorsOf(ds))
	for _, a := range rep.Applied {
		x.log.Info("blueprint applied", "blueprint", a.Name, "version", short(a.Version), "file", a.File)
	}
	for _, n := range rep.Removed {
		x.log.Info("blueprint removed: its file is gone", "blueprint", n)
	}
	for _, r := range rep.Refused {
		kept := "none"
		if r.Kept != "" {
			kept = short(r.Kept)
		}
		why := ""
		if len(r.Findings) > 0 {
			why = r.Findings[0].Error()
		}
		if r.Sub != "" {
			why = fmt.Sprintf("sub-blueprint %q was refused: %s", r.Sub, why)
		}
		x.log.Error("blueprint refused; keeping its last good version", "file", r.File, "blueprint", r.Name,
			"kept_version", kept, "findings", len(r.Findings), "first", why)
	}
	x.obs.BlueprintsReloaded(next, ds)
	return len(rep.Refused) == 0
}

// folderErrors: an error that refuses no blueprint in particular (the
// lint configuration, a folder that cannot be walked) refuses them all.
func folderErrors(set *lang.Set, ds lang.Diagnostics) bool {
	own := map[string]bool{}
	for _, r := range set.Refused {
		for _, d := range r.Findings {
			own[d.Pos.String()+d.Message] = true
		}
	}
	for _, d := range ds {
		if d.Severity == lang.SeverityError && !own[d.Pos.String()+d.Message] {
			return true
		}
	}
	return false
}

func errorsOf(ds lang.Diagnostics) lang.Diagnostics {
	var out lang.Diagnostics
	for _, d := range ds {
		if d.Severity == lang.SeverityError {
			out = append(out, d)
		}
	}
	return out
}

// lastGood is the live version of a refused file's blueprint: the one
// built from the same file, else the one of the same name.
func lastGood(old *lang.Set, r lang.Refusal) *lang.Machine {
	for _, m := range old.Machines {
		if m.File == r.File {
			return m
		}
	}
	if r.Name != "" {
		return old.Lookup(r.Name)
	}
	return nil
}

// Reloaded returns a channel that is closed when the next reload attempt
// after this call ends, taken or refused. Take it before editing a file,
// then wait on it (tests, benchmarks).
func (x *Orchestrator) Reloaded() <-chan struct{} {
	x.reloadMu.Lock()
	defer x.reloadMu.Unlock()
	if x.reloadDone == nil {
		x.reloadDone = make(chan struct{})
	}
	return x.reloadDone
}

func (x *Orchestrator) reloaded() {
	x.reloadMu.Lock()
	defer x.reloadMu.Unlock()
	if x.reloadDone != nil {
		close(x.reloadDone)
		x.reloadDone = nil
	}
}
