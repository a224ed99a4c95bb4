package server

import (
	"net/http"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/console"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// newConsole builds the web console unless CONSOLE=off. It reads the
// client API through the server's own handler, as the client it signed
// in with.
func (s *Server) newConsole() {
	if s.cfg.NoConsole {
		return
	}
	s.console = console.New(console.Options{
		Orchestrator: s.x,
		API:          http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }),
		Client:       func(token string) *config.Client { return s.clients[token] },
		Open:         len(s.clients) == 0,
		Logger:       s.log,
	})
}

// mountConsole serves the console at / and under /console/.
func (s *Server) mountConsole(mux *http.ServeMux) {
	if s.console == nil {
		return
	}
	mux.Handle("GET /{$}", s.console)
	mux.Handle("/console/", s.console)
}

// consoleStepped feeds the console's live view after each commit.
func (s *Server) consoleStepped(j *core.Job) {
	if s.console != nil {
		s.console.JobStepped(j)
	}
}
