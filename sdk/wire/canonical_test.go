package wire

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The golden vectors of PROTOCOL.md §3.3 (secret "secret-token").
func TestSigningVectors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body, canonical, sig string
	}{
		{
			`{"worker_id":"w-1","worker_type":"demo","supported_skills":[{"name":"echo"}],"capabilities":{"hostname":"h","ip_address":"127.0.0.1","extra":{"websockets":false}},"timestamp":1767225600,"security":{"signature":"x","signer_id":"w-1"}}`,
			`{"capabilities":{"extra":{"websockets":false},"hostname":"h","ip_address":"127.0.0.1"},"supported_skills":[{"name":"echo"}],"timestamp":1767225600,"worker_id":"w-1","worker_type":"demo"}`,
			"b8dc95a56baf9ef7812e9c1bf3e0ed07be20f6960631e48e3d409e6499ae4d46",
		},
		{
			`{"job_id":"j-1","task_id":"task-1","worker_id":"w-1","status":"success","data":{"echo":"hi","n":2.0,"score":0.5,"gone":null},"timestamp":1767225601.0}`,
			`{"data":{"echo":"hi","n":2,"score":0.5},"job_id":"j-1","status":"success","task_id":"task-1","timestamp":1767225601,"worker_id":"w-1"}`,
			"13c25c68d25daf34f7d5cb38a8c0dc2e6eefd444d17392121a86a44299920306",
		},
	}
	for _, c := range cases {
		got, err := Canonical([]byte(c.body), KindMessage)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.canonical {
			t.Errorf("canonical:\n got %s\nwant %s", got, c.canonical)
		}
		sig, err := Sign("secret-token", []byte(c.body), KindMessage)
		if err != nil || sig != c.sig {
			t.Errorf("signature %s, want %s (%v)", sig, c.sig, err)
		}
		if !Verify("secret-token", []byte(c.body), KindMessage, c.sig) || Verify("other", []byte(c.body), KindMessage, c.sig) {
			t.Error("verify")
		}
	}
}

func TestCanonicalForms(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`{"a":1e-7}`:                      `{"a":1e-7}`,
		`{"a":1.5e-7}`:                    `{"a":1.5e-7}`,
		`{"a":0.0001}`:                    `{"a":0.0001}`,
		`{"a":1e16}`:                      `{"a":10000000000000000}`,
		`{"a":1.5e17}`:                    `{"a":150000000000000000}`,
		`{"a":123456789012345678}`:        `{"a":123456789012345678}`,
		`{"s":"é/<>&\u2028\n\u0001\"\\"}`: "{\"s\":\"é/<>&\u2028\\n\\u0001\\\"\\\\\"}",
		`{"l":[null,1,{"x":null}]}`:       `{"l":[null,1,{}]}`,
		`{"b":true,"a":false}`:            `{"a":false,"b":true}`,
		`{"_signature":"x","k":"v"}`:      `{"k":"v"}`,
	} {
		got, err := Canonical([]byte(in), KindMessage)
		if err != nil || string(got) != want {
			t.Errorf("Canonical(%s) = %s (%v), want %s", in, got, err, want)
		}
	}
	ev, _ := Canonical([]byte(`{"bubbling_chain":["a"],"event_type":"progress"}`), KindEvent)
	if string(ev) != `{"event_type":"progress"}` {
		t.Errorf("event: %s", ev)
	}
	for _, bad := range []string{``, `[]`, `{"a":`, `"x"`} {
		if _, err := Canonical([]byte(bad), KindMessage); err == nil {
			t.Errorf("Canonical(%q) accepted", bad)
		}
	}
}

type exchange struct {
	Method     string            `json:"method"`
	Path       string            `json:"path"`
	ReqHeaders map[string]string `json:"req_headers"`
	ReqBody    string            `json:"req_body"`
	Status     int               `json:"status"`
	RespBody   string            `json:"resp_body"`
}

// ReadExchange reads the recorded Python worker exchange.
func readExchange(t *testing.T) []exchange {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "testdata", "wire", "python-worker-1.0b18-exchange.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []exchange
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e exchange
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// Every signed request of a real Python worker verifies, and decodes into
// our types.
func TestRecordedPythonExchange(t *testing.T) {
	t.Parallel()
	ex := readExchange(t)
	signed := 0
	for _, e := range ex {
		if e.ReqBody == "" {
			continue
		}
		var sec struct {
			Security Security `json:"security"`
		}
		if err := json.Unmarshal([]byte(e.ReqBody), &sec); err != nil {
			t.Fatal(err)
		}
		if sec.Security.Signature == "" {
			continue
		}
		signed++
		if !Verify("peer-worker-token", []byte(e.ReqBody), KindMessage, sec.Security.Signature) {
			c, _ := Canonical([]byte(e.ReqBody), KindMessage)
			t.Errorf("%s %s: signature does not verify; canonical %s", e.Method, e.Path, c)
		}
		var v any
		switch {
		case strings.HasSuffix(e.Path, "/register"):
			v = &Registration{}
		case strings.HasSuffix(e.Path, "/result"):
			v = &Result{}
		default:
			v = &Heartbeat{}
		}
		if err := json.Unmarshal([]byte(e.ReqBody), v); err != nil {
			t.Errorf("%s: decode: %v", e.Path, err)
		}
	}
	if signed < 18 {
		t.Errorf("verified %d signed requests, want at least 18", signed)
	}
	for _, e := range ex {
		if strings.Contains(e.Path, "/tasks/next") && e.Status == 200 {
			var task Task
			if err := json.Unmarshal([]byte(e.RespBody), &task); err != nil || task.TaskID == "" || task.Timestamp == 0 {
				t.Errorf("task payload: %v %+v", err, task)
			}
		}
	}
}

func TestTimestamp(t *testing.T) {
	t.Parallel()
	var v struct{ T Timestamp }
	for _, in := range []string{`{"T":1767225600}`, `{"T":1767225600.412}`} {
		if err := json.Unmarshal([]byte(in), &v); err != nil || v.T != 1767225600 {
			t.Errorf("%s: %v %v", in, v.T, err)
		}
	}
	if err := json.Unmarshal([]byte(`{"T":"soon"}`), &v); err == nil {
		t.Error("accepted a string")
	}
	b, _ := json.Marshal(v)
	if string(b) != `{"T":1767225600}` {
		t.Errorf("marshal: %s", b)
	}
}
