package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const askBP = `name: ask
endpoint: /jobs/ask
start: ask
states:
  ask:
    approval: {message: "go on?", timeout: 1h}
    transitions: {approved: done, rejected: refused, timeout: refused}
  done: {end: success}
  refused: {end: failure}
`

func TestParseSearchRefusals(t *testing.T) {
	for _, c := range []struct{ query, names string }{
		{"colour=red", `unknown parameter "colour"`},
		{"status=finished,bogus", `status="bogus"`},
		{"created_after=yesterday", `created_after="yesterday"`},
		{"ended_before=2026-13-01T00:00:00Z", "ended_before="},
		{"limit=0", `limit="0"`},
		{"limit=1001", `limit="1001"`},
		{"limit=ten", `limit="ten"`},
		{"offset=-1", `offset="-1"`},
		{"sort=age", `sort="age"`},
		{"blueprint=a&blueprint=b", "blueprint is given 2 times"},
		{"state=", `state=""`},
		{"meta.=x", "meta."},
		{"where=input.n+%3E", "where"},
		{"cursor=abc&offset=3", "offset and cursor"},
	} {
		v, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := server.ParseSearch(v); err == nil || !strings.Contains(err.Error(), c.names) {
			t.Errorf("%s: %v; want an error naming %s", c.query, err, c.names)
		}
	}
	v, _ := url.ParseQuery("status=failed,quarantined&status=cancelled&meta.region=eu&sort=ended&created_after=2026-03-01T12:00:00Z&limit=5")
	q, err := server.ParseSearch(v)
	if err != nil {
		t.Fatal(err)
	}
	if len(q.Statuses) != 3 || q.Meta["region"] != "eu" || q.Sort != "ended" || !q.Asc || q.Limit != 5 || q.CreatedAfter.IsZero() {
		t.Fatalf("parsed %+v", q)
	}
}

func FuzzParseSearch(f *testing.F) {
	for _, s := range []string{"status=failed", "limit=3&cursor=x", "meta.a=b&where=input.x", "created_after=2026-01-01T00:00:00Z", "sort=-ended&offset=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := server.ParseSearch(v)
		if err == nil && (q.Limit < 0 || q.Limit > 1000 || q.Offset < 0) {
			t.Fatalf("%q parsed to limit %d offset %d", raw, q.Limit, q.Offset)
		}
	})
}

// GET /api/v1/jobs over HTTP: filters, the next page's cursor in
// X-Next-Cursor and Link, each client its own jobs, archived ones included.
func TestSearchAPI(t *testing.T) {
	h, err := history.Open(context.Background(), "sqlite:///"+filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	srv := servertest.Start(t, servertest.Options{
		Files:   map[string]string{"ask.yaml": askBP},
		Clients: []config.Client{{Name: "acme", Token: "tok-acme"}, {Name: "other", Token: "tok-other"}},
		History: h,
	})
	do := func(method, path, token string, body any) (*http.Response, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL+path, rd)
		req.Header.Set("X-Client-Token", token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, b
	}
	start := func(token string) string {
		t.Helper()
		resp, b := do("POST", "/api/v1/jobs/ask", token, map[string]any{"initial_data": map[string]any{}})
		var out struct {
			JobID string `json:"job_id"`
		}
		if resp.StatusCode != 202 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("create: %d %s", resp.StatusCode, b)
		}
		return out.JobID
	}
	var acme []string
	for i := range 5 {
		id := start("tok-acme")
		acme = slices.Insert(acme, 0, id)
		if i < 2 {
			if resp, b := do("POST", "/api/v1/jobs/"+id+"/approval", "tok-acme", map[string]any{"decision": "rejected"}); resp.StatusCode != 200 {
				t.Fatalf("reject: %d %s", resp.StatusCode, b)
			}
		}
	}
	start("tok-other")
	if _, err := srv.Orchestrator().ArchiveOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	list := func(query, token string) ([]wire.JobView, http.Header) {
		t.Helper()
		resp, b := do("GET", "/api/v1/jobs?"+query, token, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /jobs?%s: %d %s", query, resp.StatusCode, b)
		}
		var vs []wire.JobView
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatal(err)
		}
		return vs, resp.Header
	}
	ids := func(vs []wire.JobView) []string {
		out := []string{}
		for _, v := range vs {
			out = append(out, v.ID)
		}
		return out
	}
	if vs, hd := list("", "tok-acme"); !slices.Equal(ids(vs), acme) || hd.Get("X-Next-Cursor") != "" || hd.Get("Link") != "" {
		t.Fatalf("acme's jobs = %v (next %q); want %v and no next page", ids(vs), hd.Get("X-Next-Cursor"), acme)
	}
	if vs, _ := list("status=failed", "tok-acme"); !slices.Equal(ids(vs), acme[3:]) {
		t.Errorf("failed = %v, want %v", ids(vs), acme[3:])
	}
	if vs, _ := list("status=failed", "tok-other"); len(vs) != 0 {
		t.Errorf("other sees acme's failed jobs: %v", ids(vs))
	}
	if vs, _ := list("state=ask&blueprint=ask", "tok-acme"); !slices.Equal(ids(vs), acme[:3]) {
		t.Errorf("state=ask = %v, want %v", ids(vs), acme[:3])
	}
	// Pages by the Link header.
	var got []string
	path := "/api/v1/jobs?limit=2"
	for range 5 {
		resp, b := do("GET", path, "tok-acme", nil)
		var vs []wire.JobView
		json.Unmarshal(b, &vs)
		got = append(got, ids(vs)...)
		link := resp.Header.Get("Link")
		if link == "" {
			break
		}
		if resp.Header.Get("X-Next-Cursor") == "" || !strings.HasSuffix(link, `>; rel="next"`) {
			t.Fatalf("Link %q, X-Next-Cursor %q", link, resp.Header.Get("X-Next-Cursor"))
		}
		path = strings.TrimSuffix(strings.TrimPrefix(link, "<"), `>; rel="next"`)
	}
	if !slices.Equal(got, acme) {
		t.Errorf("pages = %v, want %v", got, acme)
	}
	if vs, _ := list("limit=2&offset=2", "tok-acme"); !slices.Equal(ids(vs), acme[2:4]) {
		t.Errorf("offset 2 = %v, want %v", ids(vs), acme[2:4])
	}
	resp, b := do("GET", "/api/v1/jobs?colour=red", "tok-acme", nil)
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(b, &e); resp.StatusCode != 400 || e.Error.Code != wire.CodeInvalidQuery || !strings.Contains(e.Error.Message, "colour") {
		t.Errorf("unknown parameter: %d %s", resp.StatusCode, b)
	}
	resp, b = do("GET", "/api/v1/jobs?where=len(%5Bi+for+i+in+range(100000)+for+k+in+range(100)%5D)", "tok-acme", nil)
	if resp.StatusCode != 400 || !strings.Contains(string(b), "step") {
		t.Errorf("where past the step limit: %d %s", resp.StatusCode, b)
	}
}
