package server

import (
	"context"
	"net/http"
	"time"
)

// healthRoutes serves the probes of a container orchestrator:
// /_public/healthz answers 200 while the process serves; /_public/readyz
// answers 200 when the store answers, the blueprints are loaded and the
// instance is not draining, else 503 with the reason.
func (s *Server) healthRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /_public/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /_public/readyz", func(w http.ResponseWriter, r *http.Request) {
		body := map[string]any{"status": "ready", "blueprints": len(s.x.Registry().Set().Machines)}
		fail := func(reason string) {
			body["status"], body["reason"] = "not ready", reason
			w.Header().Set("Retry-After", "1")
			writeJSON(w, http.StatusServiceUnavailable, body)
		}
		if s.notReady.Load() || s.x.Draining() {
			fail("draining")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, _, err := s.x.Store().NextTimerAt(ctx); err != nil {
			s.log.Warn("readiness: store unreachable", "err", err)
			fail("store unreachable")
			return
		}
		writeJSON(w, http.StatusOK, body)
	})
}
