package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"reflect"
)

// normalize drops what re-encoding may legitimately change: null and
// empty members, and fractions of timestamps.
func normalize(v any, key string) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if n := normalize(e, k); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(x) == 0 {
			return nil
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e, "")
		}
		return out
	case json.Number:
		if key == "timestamp" || key == "deadline" {
			f, _ := x.Float64()
			return json.Number(strings.TrimSuffix(json.Number(formatInt(int64(f))).String(), ".0"))
		}
		c, _ := canonicalNumber(string(x))
		return json.Number(c)
	}
	return v
}

func formatInt(i int64) string { b, _ := json.Marshal(i); return string(b) }

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

// Every request and response body of the recorded Python exchange decodes
// into our types and encodes again with every non-empty member intact
// (timestamps as integers).
func TestRecordedExchangeRoundTrip(t *testing.T) {
	t.Parallel()
	checked := 0
	for i, e := range readExchange(t) {
		type pair struct {
			body string
			v    any
		}
		var ps []pair
		switch {
		case e.Path == RouteRegister:
			ps = []pair{{e.ReqBody, &Registration{}}, {e.RespBody, &RegisterReply{}}}
		case e.Path == RouteResult:
			ps = []pair{{e.ReqBody, &Result{}}, {e.RespBody, &ResultReply{}}}
		case strings.HasPrefix(e.Path, "/_worker/workers/") && strings.Contains(e.Path, "/tasks/next"):
			ps = []pair{{e.RespBody, &Task{}}}
		case strings.HasPrefix(e.Path, "/_worker/workers/") && e.Method == "PATCH":
			ps = []pair{{e.ReqBody, &Heartbeat{}}, {e.RespBody, &HeartbeatReply{}}}
		default:
			t.Errorf("line %d: unexpected %s %s", i+1, e.Method, e.Path)
		}
		for _, p := range ps {
			if p.body == "" {
				continue
			}
			if err := json.Unmarshal([]byte(p.body), p.v); err != nil {
				t.Errorf("line %d %s: decode into %T: %v", i+1, e.Path, p.v, err)
				continue
			}
			out, err := json.Marshal(p.v)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(out, []byte("null")) {
				t.Errorf("line %d: %T encodes a null: %s", i+1, p.v, out)
			}
			want := normalize(decodeAny(t, []byte(p.body)), "")
			got := normalize(decodeAny(t, out), "")
			if !reflect.DeepEqual(got, want) {
				t.Errorf("line %d %s: %T lost members\n got %v\nwant %v", i+1, e.Path, p.v, got, want)
			}
			checked++
		}
	}
	if checked < 30 {
		t.Errorf("checked %d bodies, want at least 30", checked)
	}
}

func TestCapabilitiesWebSockets(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		`{}`:                             false,
		`{"websockets":true}`:            true,
		`{"extra":{"websockets":true}}`:  true,
		`{"extra":{"websockets":"yes"}}`: false,
		`{"websockets":false,"extra":{"websockets":true}}`: false,
	} {
		var c Capabilities
		if err := json.Unmarshal([]byte(in), &c); err != nil {
			t.Fatal(err)
		}
		if c.WebSockets() != want {
			t.Errorf("%s: WebSockets() = %v, want %v", in, !want, want)
		}
	}
}

func TestErrorReply(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]ErrorReply{
		`{"error":"Unauthorized: bad token"}`:                         {Message: "Unauthorized: bad token"},
		`{"error":{"code":"not_found","message":"Worker not found"}}`: {Code: "not_found", Message: "Worker not found"},
	} {
		var e ErrorReply
		if err := json.Unmarshal([]byte(in), &e); err != nil || e != want {
			t.Errorf("%s: %+v %v, want %+v", in, e, err, want)
		}
	}
	var e ErrorReply
	if err := json.Unmarshal([]byte(`{"error":[1]}`), &e); err == nil {
		t.Error("accepted an array as error")
	}
}

// What we send: integer timestamps, no nulls.
func TestStrictEncoding(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(Result{JobID: "j", TaskID: "t", Status: ResultSuccess, Timestamp: 1767225601})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"job_id":"j","task_id":"t","status":"success","timestamp":1767225601}` {
		t.Errorf("result: %s", b)
	}
	b, _ = json.Marshal(Task{JobID: "j", TaskID: "t", Type: "x", Deadline: 5})
	if string(b) != `{"job_id":"j","task_id":"t","type":"x","priority":0,"deadline":5}` {
		t.Errorf("task: %s", b)
	}
}
