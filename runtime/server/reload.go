package server

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
func (s *Server) newWatcher() *fsnotify.Watcher {
	dir := s.cfg.BlueprintsDir
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Error("watch blueprints: hot reload is off", "dir", dir, "err", err)
		return nil
	}
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			if err := w.Add(p); err != nil {
				s.log.Warn("watch blueprints", "dir", p, "err", err)
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
func (s *Server) watch(ctx context.Context, w *fsnotify.Watcher) {
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
			s.log.Warn("watch blueprints", "err", err)
		case <-quiet:
			quiet = nil
			s.Reload(ctx)
		}
	}
}

// Reload lints the blueprints folder and swaps it in when clean. It
// reports whether the new set was taken.
func (s *Server) Reload(ctx context.Context) bool {
	defer s.reloaded()
	set, ds := lang.LoadDir(s.cfg.BlueprintsDir)
	if ds.HasErrors() {
		s.reg.Refuse(ds)
		s.log.Error("blueprints reload refused; keeping the last good version", "dir", s.cfg.BlueprintsDir, "findings", len(ds), "first", ds[0].Error())
		return false
	}
	if err := s.install(ctx, set); err != nil {
		s.log.Error("blueprints reload", "err", err)
		return false
	}
	s.log.Info("blueprints reloaded", "dir", s.cfg.BlueprintsDir, "count", len(set.Machines))
	return true
}

// Reloaded returns a channel that is closed when the next reload attempt
// after this call ends, taken or refused. Take it before editing a file,
// then wait on it (tests, benchmarks).
func (s *Server) Reloaded() <-chan struct{} {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.reloadDone == nil {
		s.reloadDone = make(chan struct{})
	}
	return s.reloadDone
}

func (s *Server) reloaded() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.reloadDone != nil {
		close(s.reloadDone)
		s.reloadDone = nil
	}
}
