package worker

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// TestEncodeSecurity checks that the security member encode writes by
// hand is byte for byte what encoding/json writes, and that it signs
// the body without it.
func TestEncodeSecurity(t *testing.T) {
	t.Parallel()
	const token = "secret-token"
	w := &Worker{cfg: Config{WorkerID: "w-1_A"}}
	l := &link{w: w, token: token}
	tests := []struct {
		name string
		body any
	}{
		{"result", wire.Result{JobID: "j-1", TaskID: "task-1", WorkerID: "w-1_A", Status: wire.ResultSuccess,
			Data: map[string]any{"echo": "hi </>", "n": 2.0}, Timestamp: 1767225601}},
		{"empty object", map[string]any{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := l.encode(tc.body, wire.KindMessage)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := json.Marshal(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := wire.Sign(token, raw, wire.KindMessage)
			if err != nil {
				t.Fatal(err)
			}
			sec, err := json.Marshal(wire.Security{Signature: sig, SignerID: w.cfg.WorkerID})
			if err != nil {
				t.Fatal(err)
			}
			want := raw[:len(raw)-1]
			if len(raw) > 2 {
				want = append(want, ',')
			}
			want = append(append(append(want, `"security":`...), sec...), '}')
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Errorf("encode (-want +got):\n%s", diff)
			}
			if !wire.Verify(token, got, wire.KindMessage, sig) {
				t.Errorf("signature %s does not verify %s", sig, got)
			}
		})
	}
}

func TestTaskDir(t *testing.T) {
	t.Parallel()
	w := &Worker{cfg: Config{PayloadDir: "/payloads"}}
	tests := []struct{ name, id, want string }{
		{"safe", "task-9a1e_B.2", "/payloads/task-9a1e_B.2"},
		{"slash", "../a/b", "/payloads/.._a_b"},
		{"empty", "", "/payloads/task"},
		{"dot", ".", "/payloads/task"},
		{"dot dot", "..", "/payloads/task"},
		{"one per rune", "zé🙂z", "/payloads/z__z"},
		{"invalid UTF-8", "a\xffb", "/payloads/a_b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := w.taskDir(tc.id); got != tc.want {
				t.Errorf("taskDir(%q) = %q, want %q", tc.id, got, tc.want)
			}
		})
	}
}

// The same message encoded twice within the window goes the second time
// with a later timestamp, so its signature differs and an orchestrator
// that accepts a signed message once takes both.
func TestSameMessageSignedOnce(t *testing.T) {
	t.Parallel()
	const token = "secret-token"
	l := &link{w: &Worker{cfg: Config{WorkerID: "w1"}}, token: token}
	hb := wire.Heartbeat{WorkerID: "w1", Status: wire.WorkerIdle, CurrentTasks: []string{}, Timestamp: 1767225600}
	seen := map[string]bool{}
	for i := range 3 {
		b, err := l.encode(hb, wire.KindMessage)
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Timestamp int64         `json:"timestamp"`
			Security  wire.Security `json:"security"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatal(err)
		}
		if got.Timestamp != 1767225600+int64(i) {
			t.Errorf("message %d: timestamp %d, want %d", i, got.Timestamp, 1767225600+i)
		}
		if seen[got.Security.Signature] {
			t.Errorf("message %d signed as an earlier one", i)
		}
		seen[got.Security.Signature] = true
		if !wire.Verify(token, b, wire.KindMessage, got.Security.Signature) {
			t.Errorf("message %d: the signature does not verify %s", i, b)
		}
	}
}
