// Package console is the web console served at / by `avtomatika serve`:
// blueprints drawn as graphs with their live jobs on them, the job list
// and one job's path, timeline and actions, a form to start a job, and the
// workers and queues.
//
// The pages are plain HTML, CSS and JavaScript modules embedded in the
// binary (assets/); nothing is built or installed at run time. The pages
// read the public client API through /console/api/v1/..., which this
// handler forwards to /api/v1/... with the client token taken from the
// console's cookie, so the API's own authentication and ownership rules
// apply unchanged. What the API has no route for (graphs laid out as SVG,
// live counts per state, a job's current tasks, queues, the live feed of
// changes over a WebSocket) is served under /console/api/ from the
// orchestrator directly, under the same rules: a client sees its own jobs
// only.
//
// With client tokens configured the console asks for a token and keeps it
// in an HttpOnly, SameSite=Strict cookie; every request that changes
// something must come from the console's own origin (Origin and
// Sec-Fetch-Site are checked) and carry the session's CSRF token. Without
// clients configured the console opens directly.
package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/orchestrator"
)

//go:embed assets
var assetsFS embed.FS

// CookieName is the cookie that holds a client's token.
const CookieName = "avtomatika_console"

// cookieMaxAge is how long a signed-in browser stays signed in.
const cookieMaxAge = 12 * time.Hour

// Options build a console.
type Options struct {
	Orchestrator *orchestrator.Orchestrator
	// API serves the client API (/api/v1/...); the console forwards its
	// pages' API calls to it with the cookie's token as X-Client-Token.
	API http.Handler
	// Client returns the client of a token, nil when unknown.
	Client func(token string) *config.Client
	// Open: no client tokens are configured; the console asks for none
	// and shows every job.
	Open   bool
	Logger *slog.Logger
}

// Console is the console's HTTP handler and its live view of the jobs.
type Console struct {
	x      *orchestrator.Orchestrator
	api    http.Handler
	client func(string) *config.Client
	open   bool
	log    *slog.Logger
	key    []byte // signs CSRF tokens; new at each start
	mux    *http.ServeMux
	live   *tracker
	graphs *graphs
	assets fs.FS
}

// New builds a console.
func New(o Options) *Console {
	c := &Console{x: o.Orchestrator, api: o.API, client: o.Client, open: o.Open, log: o.Logger, key: make([]byte, 32)}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.client == nil {
		c.client = func(string) *config.Client { return nil }
	}
	if _, err := rand.Read(c.key); err != nil {
		panic("console: no randomness: " + err.Error())
	}
	c.assets, _ = fs.Sub(assetsFS, "assets")
	c.live = newTracker(c.x)
	c.graphs = newGraphs(c.x)
	c.routes()
	return c
}

// JobStepped feeds the live view; the server calls it after each commit.
func (c *Console) JobStepped(j *core.Job) { c.live.observe(j) }

func (c *Console) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", c.index)
	m.HandleFunc("GET /console/{$}", c.index)
	m.Handle("GET /console/assets/", c.static())
	m.HandleFunc("POST /console/login", c.login)
	m.HandleFunc("POST /console/logout", c.guard(c.logout))
	m.HandleFunc("GET /console/api/session", c.guard(c.session))
	m.HandleFunc("GET /console/api/stats", c.guard(c.stats))
	m.HandleFunc("GET /console/api/stats/jobs", c.guard(c.stateJobs))
	m.HandleFunc("GET /console/api/graph/{name}", c.guard(c.graph))
	m.HandleFunc("GET /console/api/jobs/{id}", c.guard(c.job))
	m.HandleFunc("GET /console/api/queues", c.guard(c.queues))
	m.HandleFunc("GET /console/api/live", c.guard(c.liveSocket))
	m.HandleFunc("/console/api/v1/{path...}", c.guard(c.proxy))
	m.HandleFunc("/console/", func(w http.ResponseWriter, r *http.Request) {
		writeErr(w, http.StatusNotFound, "not_found", "no console route "+r.Method+" "+r.URL.Path)
	})
	c.mux = m
}

// ServeHTTP serves / and everything under /console/.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	c.mux.ServeHTTP(w, r)
}

const csp = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

func (c *Console) index(w http.ResponseWriter, r *http.Request) {
	b, err := fs.ReadFile(c.assets, "index.html")
	if err != nil {
		http.Error(w, "console assets missing", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", csp)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}

func (c *Console) static() http.Handler {
	fsrv := http.StripPrefix("/console/assets/", http.FileServerFS(c.assets))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("Content-Security-Policy", csp)
		fsrv.ServeHTTP(w, r)
	})
}

// caller is who a console request acts for: a client, or nobody in
// particular when the console is open.
type caller struct {
	client *config.Client
	token  string
}

// authed is a handler that runs once the caller is known and the request
// passed the cross-site checks.
type authed func(w http.ResponseWriter, r *http.Request, who caller)

// guard authenticates the cookie (unless the console is open), refuses
// cross-site requests, and for anything but GET and HEAD requires the
// session's CSRF token in X-CSRF-Token.
func (c *Console) guard(h authed) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			writeErr(w, http.StatusForbidden, "cross_site", "cross-site request refused")
			return
		}
		var who caller
		if !c.open {
			ck, err := r.Cookie(CookieName)
			if err != nil || ck.Value == "" {
				writeErr(w, http.StatusUnauthorized, "login_required", "sign in with a client token")
				return
			}
			cl := c.client(ck.Value)
			if cl == nil {
				clearCookie(w, r)
				writeErr(w, http.StatusUnauthorized, "login_required", "the token is no longer valid: sign in again")
				return
			}
			who = caller{client: cl, token: ck.Value}
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			got := r.Header.Get("X-CSRF-Token")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(c.csrf(who.token))) != 1 {
				writeErr(w, http.StatusForbidden, "csrf", "missing or stale CSRF token: reload the page")
				return
			}
		}
		h(w, r, who)
	}
}

// csrf is the session's CSRF token: a MAC of the client token under a key
// drawn at start (so tokens of an earlier process are refused).
func (c *Console) csrf(token string) string {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte("csrf\x00" + token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// sameOrigin refuses requests a browser marks as coming from another
// site, or whose Origin is not this host.
func sameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

func secure(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func clearCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/console/", MaxAge: -1, HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode})
}

// login checks a client token and keeps it in the cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeErr(w, http.StatusForbidden, "cross_site", "cross-site request refused")
		return
	}
	if c.open {
		writeErr(w, http.StatusConflict, "open", "no client tokens are configured: the console needs no sign-in")
		return
	}
	var req struct {
		Token string `json:"token"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096))
	if err := dec.Decode(&req); err != nil || req.Token == "" {
		writeErr(w, http.StatusBadRequest, "invalid_json", `want {"token": "..."}`)
		return
	}
	if c.client(req.Token) == nil {
		writeErr(w, http.StatusUnauthorized, "unauthorized", "unknown client token")
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: req.Token, Path: "/console/", MaxAge: int(cookieMaxAge / time.Second),
		HttpOnly: true, Secure: secure(r), SameSite: http.SameSiteStrictMode,
	})
	w.WriteHeader(http.StatusNoContent)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, _ caller) {
	clearCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (c *Console) session(w http.ResponseWriter, r *http.Request, who caller) {
	out := map[string]any{"open": c.open, "csrf": c.csrf(who.token)}
	if who.client != nil {
		out["client"] = who.client.Name
	}
	writeJSON(w, http.StatusOK, out)
}

// proxy forwards /console/api/v1/... to the client API as the caller.
func (c *Console) proxy(w http.ResponseWriter, r *http.Request, who caller) {
	if c.api == nil {
		writeErr(w, http.StatusNotFound, "not_found", "no API to forward to")
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/api/v1/" + r.PathValue("path")
	r2.URL.RawPath = ""
	r2.RequestURI = ""
	r2.Header.Del("Cookie")
	r2.Header.Del("X-CSRF-Token")
	r2.Header.Del("X-Client-Token")
	if who.token != "" {
		r2.Header.Set("X-Client-Token", who.token)
	}
	c.api.ServeHTTP(w, r2)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeErr writes the API's error shape.
func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// writeFailure answers an orchestrator refusal with its status, anything
// else as a logged 500.
func (c *Console) writeFailure(w http.ResponseWriter, r *http.Request, err error) {
	var oe *orchestrator.Error
	if errors.As(err, &oe) {
		status := map[orchestrator.Kind]int{
			orchestrator.KindInvalid: 400, orchestrator.KindForbidden: 403, orchestrator.KindNotFound: 404,
			orchestrator.KindConflict: 409, orchestrator.KindExhausted: 429, orchestrator.KindUnavailable: 503,
		}[oe.Kind]
		if status == 0 {
			status = 500
		}
		writeErr(w, status, oe.Code, oe.Message)
		return
	}
	c.log.Error("console request failed", "path", r.URL.Path, "err", err)
	writeErr(w, http.StatusInternalServerError, "internal", "internal error")
}
