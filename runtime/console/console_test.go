package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/console"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
)

// reviewYAML is a blueprint with a typed input, a task and an approval.
const reviewYAML = `name: review
description: Check an order, then ask a person.
endpoint: /jobs/review
input:
  type: object
  required: [order]
  properties:
    order: {type: string, minLength: 1, description: The order number.}
    qty: {type: integer, minimum: 1, default: 1}
    speed: {type: string, enum: [slow, fast], default: slow}
    gift: {type: boolean}
    batch: {type: integer, multipleOf: 5, default: 5}
start: check
states:
  check:
    task: {type: review_check, params: {order: "${{ input.order }}"}}
    transitions: {success: approve, failure: failed}
  approve:
    approval: {message: "Ship order ${{ input.order }}?", timeout: 1h}
    transitions: {approved: done, rejected: failed, timeout: failed}
  done: {end: success}
  failed: {end: failure}
`

// orphanYAML waits on a task type no worker serves.
const orphanYAML = `name: orphan
endpoint: /jobs/orphan
start: wait
states:
  wait:
    task: {type: nobody_serves_this}
    transitions: {success: done}
  done: {end: success}
`

type client struct {
	t    *testing.T
	base string
	http *http.Client
	csrf string
}

func newClient(t *testing.T, base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 10 * time.Second}}
}

func (c *client) do(method, path, body string, hdr map[string]string) (*http.Response, string) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (c *client) login(token string) *http.Response {
	c.t.Helper()
	resp, body := c.do("POST", "/console/login", `{"token":"`+token+`"}`, map[string]string{"Origin": c.base, "Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	resp2, body := c.do("GET", "/console/api/session", "", nil)
	var s struct{ CSRF, Client string }
	if resp2.StatusCode != 200 || json.Unmarshal([]byte(body), &s) != nil || s.CSRF == "" {
		c.t.Fatalf("session after login: %d %s", resp2.StatusCode, body)
	}
	c.csrf = s.CSRF
	return resp
}

func createJob(t *testing.T, base, token, endpoint, input string) string {
	t.Helper()
	req, _ := http.NewRequest("POST", base+"/api/v1/jobs/"+endpoint, strings.NewReader(`{"initial_data":`+input+`}`))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Client-Token", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		JobID string `json:"job_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &out) != nil {
		t.Fatalf("create %s: %d %s", endpoint, resp.StatusCode, b)
	}
	return out.JobID
}

var twoClients = []config.Client{{Name: "alpha", Token: "tok-alpha", Plan: "free"}, {Name: "beta", Token: "tok-beta", Plan: "free"}}

func TestConsoleOff(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Config: func(c *config.Config) { c.NoConsole = true }})
	c := newClient(t, srv.URL)
	for _, p := range []string{"/", "/console/", "/console/assets/app.js", "/console/api/session"} {
		if resp, body := c.do("GET", p, "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("CONSOLE=off: GET %s = %d %s; want 404", p, resp.StatusCode, body)
		}
	}
	// The API is untouched.
	if resp, _ := c.do("GET", "/api/v1/blueprints", "", nil); resp.StatusCode != 200 {
		t.Errorf("CONSOLE=off: the API answers %d", resp.StatusCode)
	}
}

func TestOpenConsoleServesPagesAndAssets(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Files: map[string]string{"review.yaml": reviewYAML}})
	c := newClient(t, srv.URL)
	resp, body := c.do("GET", "/", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `src="/console/assets/app.js"`) || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET /: %d %q csp %q", resp.StatusCode, body, resp.Header.Get("Content-Security-Policy"))
	}
	for path, ct := range map[string]string{"/console/assets/app.js": "javascript", "/console/assets/style.css": "text/css", "/console/assets/graph.js": "javascript"} {
		resp, _ := c.do("GET", path, "", nil)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ct) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	// Open: no sign-in, the session names no client.
	resp, body = c.do("GET", "/console/api/session", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(body, `"open":true`) {
		t.Fatalf("session: %d %s", resp.StatusCode, body)
	}
	resp, body = c.do("POST", "/console/login", `{"token":"x"}`, nil)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("login on an open console: %d %s; want 409", resp.StatusCode, body)
	}
	// Unknown console routes are a JSON 404; unknown API routes stay the API's.
	if resp, body := c.do("GET", "/console/nope", "", nil); resp.StatusCode != 404 || !strings.Contains(body, "not_found") {
		t.Errorf("GET /console/nope: %d %s", resp.StatusCode, body)
	}
	if resp, body := c.do("GET", "/api/v1/nope", "", nil); resp.StatusCode != 404 || !strings.Contains(body, "no route") {
		t.Errorf("GET /api/v1/nope: %d %s", resp.StatusCode, body)
	}
	// The graph is laid out as SVG, and an unknown blueprint is a 404.
	resp, body = c.do("GET", "/console/api/graph/review", "", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, "<svg") || !strings.Contains(body, "<title>approve</title>") {
		t.Fatalf("graph: %d %s %.200s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := c.do("GET", "/console/api/graph/nope", "", nil); resp.StatusCode != 404 {
		t.Errorf("graph of an unknown blueprint: %d", resp.StatusCode)
	}
	if resp, _ := c.do("GET", "/console/api/graph/review?version=0123", "", nil); resp.StatusCode != 404 {
		t.Errorf("graph of an unknown version: %d", resp.StatusCode)
	}
	// Without clients an action needs no cookie, but still the CSRF token.
	id := createJob(t, srv.URL, "", "review", `{"order":"A1"}`)
	if resp, body := c.do("POST", "/console/api/v1/jobs/"+id+"/cancel", "", nil); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "csrf") {
		t.Errorf("cancel without a CSRF token: %d %s; want 403 csrf", resp.StatusCode, body)
	}
	var s struct{ CSRF string }
	_, body = c.do("GET", "/console/api/session", "", nil)
	_ = json.Unmarshal([]byte(body), &s)
	if resp, body := c.do("POST", "/console/api/v1/jobs/"+id+"/cancel", "", map[string]string{"X-CSRF-Token": s.CSRF}); resp.StatusCode != 200 {
		t.Errorf("cancel with the CSRF token: %d %s", resp.StatusCode, body)
	}
}

func TestSignInCookieAndIsolation(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Clients: twoClients, Files: map[string]string{"review.yaml": reviewYAML}})
	alphaJob := createJob(t, srv.URL, "tok-alpha", "review", `{"order":"A1"}`)
	betaJob := createJob(t, srv.URL, "tok-beta", "review", `{"order":"B1"}`)

	anon := newClient(t, srv.URL)
	for _, p := range []string{"/console/api/session", "/console/api/v1/jobs", "/console/api/stats", "/console/api/jobs/" + alphaJob, "/console/api/live"} {
		if resp, body := anon.do("GET", p, "", nil); resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "login_required") {
			t.Errorf("GET %s without a cookie: %d %s; want 401", p, resp.StatusCode, body)
		}
	}
	// The page itself loads (it shows the sign-in form).
	if resp, _ := anon.do("GET", "/", "", nil); resp.StatusCode != 200 {
		t.Errorf("GET / without a cookie: %d", resp.StatusCode)
	}
	if resp, body := anon.do("POST", "/console/login", `{"token":"wrong"}`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d %s", resp.StatusCode, body)
	}
	if resp, body := anon.do("POST", "/console/login", `{"token":"tok-alpha"}`, map[string]string{"Origin": "https://evil.example"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("login from another origin: %d %s; want 403", resp.StatusCode, body)
	}
	if resp, body := anon.do("POST", "/console/login", `{"token":"tok-alpha"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site login: %d %s; want 403", resp.StatusCode, body)
	}

	alpha := newClient(t, srv.URL)
	resp := alpha.login("tok-alpha")
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == console.CookieName {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/console/" || ck.MaxAge <= 0 || ck.Value != "tok-alpha" {
		t.Fatalf("cookie: %+v; want HttpOnly, SameSite=Strict, Path=/console/, a max age", ck)
	}
	if ck.Secure {
		t.Errorf("cookie over plain HTTP is Secure: the browser would drop it")
	}
	// Behind a TLS proxy the cookie is Secure.
	if r, _ := anon.do("POST", "/console/login", `{"token":"tok-alpha"}`, map[string]string{"X-Forwarded-Proto": "https"}); !strings.Contains(r.Header.Get("Set-Cookie"), "Secure") {
		t.Errorf("login behind https: Set-Cookie %q lacks Secure", r.Header.Get("Set-Cookie"))
	}

	// Alpha sees its job, not beta's, through every route.
	_, body := alpha.do("GET", "/console/api/v1/jobs", "", nil)
	if !strings.Contains(body, alphaJob) || strings.Contains(body, betaJob) {
		t.Errorf("alpha's job list: %s; want %s and not %s", body, alphaJob, betaJob)
	}
	if r, body := alpha.do("GET", "/console/api/jobs/"+betaJob, "", nil); r.StatusCode != 404 {
		t.Errorf("alpha reads beta's job: %d %s", r.StatusCode, body)
	}
	if r, body := alpha.do("GET", "/console/api/v1/jobs/"+betaJob+"/history", "", nil); r.StatusCode != 404 {
		t.Errorf("alpha reads beta's timeline: %d %s", r.StatusCode, body)
	}
	if r, body := alpha.do("GET", "/console/api/jobs/"+alphaJob, "", nil); r.StatusCode != 200 || !strings.Contains(body, `"client":"alpha"`) {
		t.Errorf("alpha reads its job: %d %s", r.StatusCode, body)
	}
	_, body = alpha.do("GET", "/console/api/stats/jobs?blueprint=review&state=check", "", nil)
	if !strings.Contains(body, alphaJob) || strings.Contains(body, betaJob) {
		t.Errorf("alpha's jobs in state check: %s", body)
	}
	var st struct {
		Blueprints map[string]struct{ Running int }
	}
	_, body = alpha.do("GET", "/console/api/stats", "", nil)
	if json.Unmarshal([]byte(body), &st) != nil || st.Blueprints["review"].Running != 1 {
		t.Errorf("alpha's stats: %s; want 1 running review job", body)
	}
	if r, body := alpha.do("POST", "/console/api/v1/jobs/"+betaJob+"/cancel", "", map[string]string{"X-CSRF-Token": alpha.csrf}); r.StatusCode != 404 {
		t.Errorf("alpha cancels beta's job: %d %s", r.StatusCode, body)
	}

	// Actions: refused without the CSRF token, with a wrong one, cross-site
	// or from another origin; done with the token from this origin.
	cancel := "/console/api/v1/jobs/" + alphaJob + "/cancel"
	for name, hdr := range map[string]map[string]string{
		"no token":     nil,
		"wrong token":  {"X-CSRF-Token": "forged"},
		"other token":  {"X-CSRF-Token": newCSRFOf(t, srv.URL, "tok-beta")},
		"cross-site":   {"X-CSRF-Token": alpha.csrf, "Sec-Fetch-Site": "cross-site"},
		"same-site":    {"X-CSRF-Token": alpha.csrf, "Sec-Fetch-Site": "same-site"},
		"other origin": {"X-CSRF-Token": alpha.csrf, "Origin": "http://evil.example"},
	} {
		if r, body := alpha.do("POST", cancel, "", hdr); r.StatusCode != http.StatusForbidden {
			t.Errorf("cancel with %s: %d %s; want 403", name, r.StatusCode, body)
		}
	}
	if r, body := alpha.do("POST", cancel, "", map[string]string{"X-CSRF-Token": alpha.csrf, "Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}); r.StatusCode != 200 {
		t.Fatalf("cancel with the CSRF token: %d %s", r.StatusCode, body)
	}

	// Signing out clears the cookie.
	r, _ := alpha.do("POST", "/console/logout", "", map[string]string{"X-CSRF-Token": alpha.csrf})
	if r.StatusCode != http.StatusNoContent || !strings.Contains(r.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d %q", r.StatusCode, r.Header.Get("Set-Cookie"))
	}
	if r, _ := alpha.do("GET", "/console/api/session", "", nil); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("session after logout: %d", r.StatusCode)
	}
}

// newCSRFOf signs another client in and returns its CSRF token.
func newCSRFOf(t *testing.T, base, token string) string {
	c := newClient(t, base)
	c.login(token)
	return c.csrf
}

func TestLiveSocketBatchesAndFilters(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Clients: twoClients, Files: map[string]string{"review.yaml": reviewYAML}})
	alpha := newClient(t, srv.URL)
	alpha.login("tok-alpha")
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/console/api/live"
	// Without the cookie, and from another origin, the socket is refused.
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("live socket without a cookie: %v %v; want 401", resp.StatusCode, err)
	}
	d := websocket.Dialer{Jar: alpha.http.Jar, HandshakeTimeout: 5 * time.Second}
	if _, resp, err := d.Dial(wsURL, http.Header{"Origin": {"http://evil.example"}}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("live socket from another origin: %v; want 403", err)
	}
	conn, _, err := d.Dial(wsURL, http.Header{"Origin": {srv.URL}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	betaJob := createJob(t, srv.URL, "tok-beta", "review", `{"order":"B"}`)
	var ids []string
	for range 5 {
		ids = append(ids, createJob(t, srv.URL, "tok-alpha", "review", `{"order":"A"}`))
	}
	seen := map[string]bool{}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for len(seen) < len(ids) {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("read: %v (seen %d of %d)", err, len(seen), len(ids))
		}
		var batch struct {
			Jobs       []struct{ ID, Blueprint, State, Status string }
			Blueprints []string
		}
		if err := json.Unmarshal(msg, &batch); err != nil {
			t.Fatalf("batch %q: %v", msg, err)
		}
		for _, j := range batch.Jobs {
			if j.ID == betaJob {
				t.Fatalf("alpha's feed carried beta's job %s", betaJob)
			}
			if j.Blueprint != "review" || j.State != "check" || j.Status != "waiting_for_worker" {
				t.Errorf("change %+v: want review waiting for a worker in check", j)
			}
			seen[j.ID] = true
		}
	}
}

// doomedYAML fails as soon as it starts.
const doomedYAML = `name: doomed
endpoint: /jobs/doomed
start: fail
states:
  fail: {end: failure}
`

// Redrive through the console: offered for a failed job only, and
// refused without the CSRF token or from another site, like every
// action; another client's job is not found.
func TestConsoleRedrive(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Options{Clients: twoClients, Files: map[string]string{"review.yaml": reviewYAML, "doomed.yaml": doomedYAML}})
	running := createJob(t, srv.URL, "tok-alpha", "review", `{"order":"A1"}`)
	failed := createJob(t, srv.URL, "tok-alpha", "doomed", `{}`)
	betaFailed := createJob(t, srv.URL, "tok-beta", "doomed", `{}`)
	alpha := newClient(t, srv.URL)
	alpha.login("tok-alpha")
	actions := func(id string) string {
		t.Helper()
		_, body := alpha.do("GET", "/console/api/jobs/"+id, "", nil)
		var d struct{ Actions []string }
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("job detail: %s", body)
		}
		return strings.Join(d.Actions, ",")
	}
	if got := actions(running); got != "cancel" {
		t.Errorf("a running job's actions: %q; want cancel only", got)
	}
	if got := actions(failed); got != "redrive" {
		t.Errorf("a failed job's actions: %q; want redrive", got)
	}
	ok := map[string]string{"X-CSRF-Token": alpha.csrf, "Origin": srv.URL, "Sec-Fetch-Site": "same-origin"}
	if r, body := alpha.do("POST", "/console/api/v1/jobs/"+running+"/redrive", "{}", ok); r.StatusCode != http.StatusConflict {
		t.Errorf("redrive of a running job: %d %s; want 409", r.StatusCode, body)
	}
	if r, body := alpha.do("POST", "/console/api/v1/jobs/"+betaFailed+"/redrive", "{}", ok); r.StatusCode != http.StatusNotFound {
		t.Errorf("alpha redrives beta's job: %d %s; want 404", r.StatusCode, body)
	}
	redrive := "/console/api/v1/jobs/" + failed + "/redrive"
	for name, hdr := range map[string]map[string]string{
		"no token":     nil,
		"wrong token":  {"X-CSRF-Token": "forged"},
		"cross-site":   {"X-CSRF-Token": alpha.csrf, "Sec-Fetch-Site": "cross-site"},
		"other origin": {"X-CSRF-Token": alpha.csrf, "Origin": "http://evil.example"},
	} {
		if r, body := alpha.do("POST", redrive, "{}", hdr); r.StatusCode != http.StatusForbidden {
			t.Errorf("redrive with %s: %d %s; want 403", name, r.StatusCode, body)
		}
	}
	r, body := alpha.do("POST", redrive, `{"current_version": true}`, ok)
	var nj struct {
		ID string `json:"id"`
	}
	if r.StatusCode != http.StatusAccepted || json.Unmarshal([]byte(body), &nj) != nil || nj.ID == "" || nj.ID == failed {
		t.Fatalf("redrive with the CSRF token: %d %s; want 202 and a new job", r.StatusCode, body)
	}
	if j, err := srv.Store().GetJob(t.Context(), nj.ID); err != nil || j.Metadata["redrive_of"] != failed || j.Client.Name != "alpha" {
		t.Errorf("the new job: %+v, %v; want alpha's, redrive_of %s", j, err, failed)
	}
}
