package orchestrator

import (
	"context"
	"os"
	"path/filepath"
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

// Reload lints the blueprints folder and swaps it in when clean. It
// reports whether the new set was taken.
func (x *Orchestrator) Reload(ctx context.Context) bool {
	defer x.reloaded()
	set, ds := lang.LoadDir(x.cfg.BlueprintsDir)
	if ds.HasErrors() {
		x.reg.Refuse(ds)
		x.log.Error("blueprints reload refused; keeping the last good version", "dir", x.cfg.BlueprintsDir, "findings", len(ds), "first", ds[0].Error())
		x.obs.BlueprintsReloaded(nil, ds)
		return false
	}
	if err := x.install(ctx, set); err != nil {
		x.log.Error("blueprints reload", "err", err)
		return false
	}
	x.log.Info("blueprints reloaded", "dir", x.cfg.BlueprintsDir, "count", len(set.Machines))
	x.obs.BlueprintsReloaded(set, ds)
	return true
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
