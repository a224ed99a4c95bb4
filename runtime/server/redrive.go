package server

import (
	"net/http"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// redriveBody is the body of both redrive routes; all members optional.
type redriveBody struct {
	FromState      string         `json:"from_state"`
	CurrentVersion bool           `json:"current_version"`
	Input          map[string]any `json:"input"`
	DryRun         bool           `json:"dry_run"` // bulk only
}

func (s *Server) redriveRoutes(mux *http.ServeMux, c func(func(http.ResponseWriter, *http.Request, *config.Client) error) http.Handler) {
	mux.Handle("POST "+apiPrefix+"/jobs/{id}/redrive", c(s.redrive))
	mux.Handle("POST "+apiPrefix+"/jobs/redrive", c(s.redriveMany))
}

func (b *redriveBody) request() orchestrator.RedriveRequest {
	req := orchestrator.RedriveRequest{FromState: b.FromState, Current: b.CurrentVersion}
	if b.Input != nil {
		req.Input, _ = lang.FromJSON(b.Input).(map[string]any)
	}
	return req
}

// redrive answers POST /api/v1/jobs/{id}/redrive: 202 with the new job's
// view.
func (s *Server) redrive(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	var b redriveBody
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &b, true); err != nil {
		return err
	}
	if b.DryRun {
		return errorf(http.StatusBadRequest, wire.CodeInvalidField, "dry_run: only the bulk redrive (POST /api/v1/jobs/redrive) takes it")
	}
	nj, err := s.x.Redrive(r.Context(), cl, r.PathValue("id"), b.request())
	if err != nil {
		return err
	}
	v, err := s.view(r.Context(), nj)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}

// redriveMany answers POST /api/v1/jobs/redrive?FILTERS: the search
// filters of GET /api/v1/jobs pick the jobs (failed and quarantined
// ones); 200 with what was (or, with dry_run, would be) redriven.
func (s *Server) redriveMany(w http.ResponseWriter, r *http.Request, cl *config.Client) error {
	q, err := ParseSearch(r.URL.Query())
	if err != nil {
		return err
	}
	if q.Cursor != "" || q.Offset != 0 || q.Limit != 0 {
		return errorf(http.StatusBadRequest, wire.CodeInvalidQuery, "a bulk redrive takes the search filters, not limit, offset or cursor")
	}
	var b redriveBody
	if err := decodeBody(w, r, s.cfg.MaxBodyBytes, &b, true); err != nil {
		return err
	}
	if b.FromState != "" {
		return errorf(http.StatusBadRequest, wire.CodeInvalidField, "from_state: a bulk redrive starts each job where it failed")
	}
	res, err := s.x.RedriveMany(r.Context(), cl, q, b.request(), b.DryRun)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}
