package server_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server/servertest"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// sigNow is the server's clock in the signature tests.
var sigNow = time.Unix(1767225600, 0)

const ownSecret = "own-worker-secret"

// signedRegistration is a registration of worker id stamped ts (omitted
// when nil) and, unless secret is "", signed with secret and naming signer.
func signedRegistration(t *testing.T, id string, ts *int64, secret, signer string) []byte {
	t.Helper()
	m := map[string]any{"worker_id": id, "supported_skills": []map[string]any{{"name": "check_inventory"}}}
	if ts != nil {
		m["timestamp"] = *ts
	}
	if secret == "" {
		return mustJSON(t, m)
	}
	sig, err := wire.Sign(secret, mustJSON(t, m), wire.KindMessage)
	if err != nil {
		t.Fatal(err)
	}
	m["security"] = map[string]any{"signature": sig, "signer_id": signer}
	return mustJSON(t, m)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url, id, token string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.HeaderWorkerToken, token)
	req.Header.Set(wire.HeaderWorkerID, id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func sigServer(t *testing.T, require bool) *servertest.Server {
	return servertest.Start(t, servertest.Options{
		Examples: true,
		Clock:    func() time.Time { return sigNow },
		Workers:  map[string]string{"w-own": ownSecret},
		Config: func(c *config.Config) {
			c.VerifySignatures = true
			c.RequireSignatures = require
		},
	})
}

// The timestamp of a signed message is accepted within 60 s of the
// server's clock in both directions, 60 included, and refused beyond,
// for the stale and the early alike; refusals name the timestamp.
func TestSignatureTimestampWindow(t *testing.T) {
	t.Parallel()
	srv := sigServer(t, false)
	now := sigNow.Unix()
	for _, tc := range []struct {
		name string
		skew int64
		want int
	}{
		{"now", 0, 200},
		{"60 s old", -60, 200},
		{"61 s old", -61, 403},
		{"an hour old", -3600, 403},
		{"60 s ahead", 60, 200},
		{"61 s ahead", 61, 403},
		{"an hour ahead", 3600, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := now + tc.skew
			body := signedRegistration(t, "w-clock", &ts, servertest.WorkerToken, "w-clock")
			code, got := post(t, srv.URL+wire.RouteRegister, "w-clock", servertest.WorkerToken, body)
			if code != tc.want {
				t.Fatalf("timestamp %+d s: %d %s, want %d", tc.skew, code, got, tc.want)
			}
			if code == 403 && !strings.Contains(got, "timestamp") {
				t.Errorf("timestamp %+d s refused for another reason: %s", tc.skew, got)
			}
		})
	}
}

// A message signed correctly but naming another worker as its signer is
// refused: the signer must be the worker the token authenticated.
func TestSignatureSignerMustBeTheWorker(t *testing.T) {
	t.Parallel()
	srv := sigServer(t, false)
	ts := sigNow.Unix()
	body := signedRegistration(t, "w-a", &ts, servertest.WorkerToken, "w-b")
	code, got := post(t, srv.URL+wire.RouteRegister, "w-a", servertest.WorkerToken, body)
	if code != 403 || !strings.Contains(got, "signer_id") {
		t.Errorf("signer w-b for worker w-a: %d %s, want 403 naming signer_id", code, got)
	}
	// No signer named: the authenticated worker is taken as the signer.
	body = signedRegistration(t, "w-a", &ts, servertest.WorkerToken, "")
	if code, got := post(t, srv.URL+wire.RouteRegister, "w-a", servertest.WorkerToken, body); code != 200 {
		t.Errorf("signature without signer_id: %d %s, want 200", code, got)
	}
}

// A signed message without a timestamp cannot be checked for replay and
// is refused; one that is not signed at all passes unless signatures are
// required.
func TestSignatureMissingParts(t *testing.T) {
	t.Parallel()
	srv := sigServer(t, false)
	body := signedRegistration(t, "w-a", nil, servertest.WorkerToken, "w-a")
	if code, got := post(t, srv.URL+wire.RouteRegister, "w-a", servertest.WorkerToken, body); code != 403 || !strings.Contains(got, "timestamp") {
		t.Errorf("signed without timestamp: %d %s, want 403 naming the timestamp", code, got)
	}
	ts := sigNow.Unix()
	body = signedRegistration(t, "w-a", &ts, "", "")
	if code, got := post(t, srv.URL+wire.RouteRegister, "w-a", servertest.WorkerToken, body); code != 200 {
		t.Errorf("unsigned, signatures optional: %d %s, want 200", code, got)
	}

	strict := sigServer(t, true)
	if code, got := post(t, strict.URL+wire.RouteRegister, "w-a", servertest.WorkerToken, body); code != 403 || !strings.Contains(got, "not signed") {
		t.Errorf("unsigned, signatures required: %d %s, want 403 saying it is not signed", code, got)
	}
	body = signedRegistration(t, "w-a", &ts, servertest.WorkerToken, "w-a")
	if code, got := post(t, strict.URL+wire.RouteRegister, "w-a", servertest.WorkerToken, body); code != 200 {
		t.Errorf("signed, signatures required: %d %s, want 200", code, got)
	}
}

// A worker listed with its own secret signs with it: the global token's
// signature does not verify for it, and its own secret's signature does
// not verify for another worker.
func TestSignatureSecretPerWorker(t *testing.T) {
	t.Parallel()
	srv := sigServer(t, false)
	ts := sigNow.Unix()
	for _, tc := range []struct {
		name, id, token, secret string
		want                    int
	}{
		{"own secret", "w-own", ownSecret, ownSecret, 200},
		{"global token's signature for a worker with its own", "w-own", ownSecret, servertest.WorkerToken, 403},
		{"global token", "w-any", servertest.WorkerToken, servertest.WorkerToken, 200},
		{"another worker's secret", "w-any", servertest.WorkerToken, ownSecret, 403},
	} {
		body := signedRegistration(t, tc.id, &ts, tc.secret, tc.id)
		code, got := post(t, srv.URL+wire.RouteRegister, tc.id, tc.token, body)
		if code != tc.want {
			t.Errorf("%s: %d %s, want %d", tc.name, code, got, tc.want)
		}
		if code == 403 && !strings.Contains(got, "invalid signature") {
			t.Errorf("%s: refused for another reason: %s", tc.name, got)
		}
	}
	// A body changed after signing is refused.
	body := signedRegistration(t, "w-any", &ts, servertest.WorkerToken, "w-any")
	body = bytes.Replace(body, []byte("check_inventory"), []byte("check_inventorz"), 1)
	if code, got := post(t, srv.URL+wire.RouteRegister, "w-any", servertest.WorkerToken, body); code != 403 || !strings.Contains(got, "invalid signature") {
		t.Errorf("tampered: %d %s, want 403 invalid signature", code, got)
	}
}
