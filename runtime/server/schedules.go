package server

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/schedule"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// scheduleRoutes serves the schedules: GET /api/v1/schedules lists them
// with their next fire times and last job; POST .../{name}/pause and
// .../resume stop and restart one on every instance.
func (s *Server) scheduleRoutes(mux *http.ServeMux, c func(func(http.ResponseWriter, *http.Request, *config.Client) error) http.Handler) {
	mux.Handle("GET "+apiPrefix+"/schedules", c(s.listSchedules))
	mux.Handle("POST "+apiPrefix+"/schedules/{name}/pause", c(func(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
		return s.pauseSchedule(w, r, true)
	}))
	mux.Handle("POST "+apiPrefix+"/schedules/{name}/resume", c(func(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
		return s.pauseSchedule(w, r, false)
	}))
}

func (s *Server) listSchedules(w http.ResponseWriter, r *http.Request, _ *config.Client) error {
	n := 3
	if v := r.URL.Query().Get("next"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 0 || k > 100 {
			return errorf(http.StatusBadRequest, wire.CodeInvalidField, "next must be a number of fire times from 0 to 100")
		}
		n = k
	}
	list, err := s.sched.List(r.Context(), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"schedules": list})
	return nil
}

func (s *Server) pauseSchedule(w http.ResponseWriter, r *http.Request, paused bool) error {
	name := r.PathValue("name")
	if err := s.sched.Pause(r.Context(), name, paused); err != nil {
		if errors.Is(err, schedule.ErrUnknown) {
			return errorf(http.StatusNotFound, wire.CodeNotFound, "no schedule %q", name)
		}
		return err
	}
	list, err := s.sched.List(r.Context(), 3)
	if err != nil {
		return err
	}
	for _, v := range list {
		if v.Name == name {
			writeJSON(w, http.StatusOK, v)
			return nil
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": name, "paused": paused})
	return nil
}

// clientSecrets returns the webhook_secret of each client of clients.toml,
// by client name.
func clientSecrets(clients []config.Client) func(string) string {
	m := map[string]string{}
	for _, c := range clients {
		if s, ok := c.Fields["webhook_secret"].(string); ok && s != "" {
			m[c.Name] = s
		}
	}
	return func(name string) string { return m[name] }
}
