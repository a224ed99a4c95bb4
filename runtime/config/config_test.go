package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(nil))
	if err != nil || c.Port != 8080 || c.PollTimeout != 30*time.Second || c.GlobalWorkerToken != "secure-worker-token" || c.BlueprintsDir != "blueprints" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	if c.JobMaxRetries != 3 || c.DispatchTimeout != 0 {
		t.Errorf("defaults: JOB_MAX_RETRIES %d, DISPATCH_TIMEOUT_SECONDS %v; want 3 and none", c.JobMaxRetries, c.DispatchTimeout)
	}
	if c, err := FromEnv(env(map[string]string{"JOB_MAX_RETRIES": "0", "DISPATCH_TIMEOUT_SECONDS": "90"})); err != nil || c.JobMaxRetries != 0 || c.DispatchTimeout != 90*time.Second {
		t.Errorf("JOB_MAX_RETRIES=0 DISPATCH_TIMEOUT_SECONDS=90: %d, %v, %v", c.JobMaxRetries, c.DispatchTimeout, err)
	}
	if _, err := FromEnv(env(map[string]string{"WORKER_AUTH_MODE": "token-only", "TLS_ENABLED": "false"})); err != nil {
		t.Errorf("token-only without TLS: %v", err)
	}
	c, err = FromEnv(env(map[string]string{"API_PORT": "9000", "WORKER_POLL_TIMEOUT_SECONDS": "2.5", "LOG_FORMAT": "JSON", "REDIS_HOST": "r", "REDIS_PORT": "7000", "REDIS_DB": "2"}))
	if err != nil || c.Port != 9000 || c.PollTimeout != 2500*time.Millisecond || c.LogFormat != "json" || c.RedisURL != "redis://r:7000/2" {
		t.Fatalf("values: %+v %v", c, err)
	}
	for name, val := range map[string]string{
		"API_PORT": "http", "WORKER_TIMEOUT_SECONDS": "-1", "LOG_LEVEL": "loud", "LOG_FORMAT": "xml",
		"MAX_TRANSITIONS_PER_JOB": "0", "WORKER_VERIFY_SIGNATURES": "maybe", "WORKER_POLL_TIMEOUT_SECONDS": "1000",
		"WORKER_AUTH_MODE": "mtls-only", "TLS_ENABLED": "true", "JOB_MAX_RETRIES": "-1", "DISPATCH_TIMEOUT_SECONDS": "soon",
		"MAX_CONNECTIONS": "-1", "WORKER_MAX_PARKED_CONNECTIONS": "0", "MAX_JOB_INPUT_BYTES": "big",
		"RATE_LIMIT_PERIOD": "0", "RATE_LIMITING_ENABLED": "sometimes", "IDEMPOTENCY_WINDOW_SECONDS": "-5",
		"REQUEST_BODY_TIMEOUT_SECONDS": "x", "JOB_CACHE_MAX_BYTES": "-1", "MAX_RESERVATIONS": "0",
		"CONSOLE": "hidden",
	} {
		_, err := FromEnv(env(map[string]string{name: val}))
		if err == nil || !strings.Contains(err.Error(), strings.Split(name, "=")[0]) {
			t.Errorf("%s=%s: error %v must name the variable", name, val, err)
		}
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	c, err := FromEnv(env(nil))
	l := c.Limits
	if err != nil || l.BodyReadTimeout != 30*time.Second || l.IdleTimeout != 120*time.Second || l.MaxConnections != 0 ||
		l.MaxParkedPerWorker != 64 || l.MaxInputBytes != 256<<10 || l.MaxRegistrationBytes != 64<<10 || l.MaxEventBytes != 64<<10 ||
		l.JobCacheBytes != 256<<20 || l.IdempotencyWindow != 24*time.Hour || l.TaskGrace != 15*time.Second || l.MaxReservations != 1_000_000 ||
		l.RateLimiting || l.RateLimit != 100 || l.RatePeriod != time.Minute || l.HeartbeatLimit != 120 || l.PollLimit != 60 {
		t.Fatalf("defaults: %+v %v", l, err)
	}
	c, err = FromEnv(env(map[string]string{
		"REQUEST_BODY_TIMEOUT_SECONDS": "2", "HTTP_IDLE_TIMEOUT_SECONDS": "5", "MAX_CONNECTIONS": "900",
		"WORKER_MAX_PARKED_CONNECTIONS": "3", "MAX_JOB_INPUT_BYTES": "10", "MAX_REGISTRATION_BYTES": "11",
		"MAX_EVENT_PAYLOAD_BYTES": "12", "JOB_CACHE_MAX_BYTES": "1000", "IDEMPOTENCY_WINDOW_SECONDS": "60",
		"WORKER_TASK_GRACE_SECONDS": "1", "RATE_LIMITING_ENABLED": "true", "RATE_LIMIT_LIMIT": "5",
		"RATE_LIMIT_PERIOD": "10", "RATE_LIMIT_HEARTBEAT_LIMIT": "6", "RATE_LIMIT_POLL_LIMIT": "7", "MAX_RESERVATIONS": "50",
	}))
	l = c.Limits
	if err != nil || l.BodyReadTimeout != 2*time.Second || l.IdleTimeout != 5*time.Second || l.MaxConnections != 900 ||
		l.MaxParkedPerWorker != 3 || l.MaxInputBytes != 10 || l.MaxRegistrationBytes != 11 || l.MaxEventBytes != 12 ||
		l.JobCacheBytes != 1000 || l.IdempotencyWindow != time.Minute || l.TaskGrace != time.Second ||
		!l.RateLimiting || l.RateLimit != 5 || l.RatePeriod != 10*time.Second || l.HeartbeatLimit != 6 || l.PollLimit != 7 || l.MaxReservations != 50 {
		t.Fatalf("values: %+v %v", l, err)
	}
}

func TestDotEnv(t *testing.T) {
	t.Parallel()
	m, err := ParseDotEnv(".env", strings.NewReader("# c\nA=1\nexport B = two words # note\nC=\"q \\\"x\\\"\"\nD='s p'\n\n"))
	if err != nil || m["A"] != "1" || m["B"] != "two words" || m["C"] != `q "x"` || m["D"] != "s p" {
		t.Fatalf("%v %v", m, err)
	}
	for _, bad := range []string{"NOEQUALS\n", "A=\"open\n", "=x\n"} {
		if _, err := ParseDotEnv(".env", strings.NewReader("OK=1\n"+bad)); err == nil || !strings.Contains(err.Error(), ".env:2") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	look := EnvWithDotEnv(env(map[string]string{"A": "env"}), map[string]string{"A": "dot", "B": "dot"})
	if v, _ := look("A"); v != "env" {
		t.Error("the environment wins over .env")
	}
	if v, _ := look("B"); v != "dot" {
		t.Error(".env fills in")
	}
}

func write(t *testing.T, name, s string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestClientsAndWorkers(t *testing.T) {
	t.Parallel()
	cs, err := LoadClients(write(t, "clients.toml", "[zed]\ntoken = \"z\"\n[acme]\ntoken = \"tok\"\nplan = \"premium\"\nmonthly_attempts = 5\nparams = {languages = [\"en\"]}\nregion = \"eu\"\n"))
	if err != nil || len(cs) != 2 || cs[0].Name != "acme" || *cs[0].MonthlyAttempts != 5 || cs[0].Fields["region"] != "eu" || cs[1].MonthlyAttempts != nil {
		t.Fatalf("%+v %v", cs, err)
	}
	ws, err := LoadWorkers(write(t, "workers.toml", "[gpu-01]\ntoken = \"s\"\n[no-token]\nx = 1\n"))
	if err != nil || len(ws) != 1 || ws["gpu-01"] != "s" {
		t.Fatalf("%v %v", ws, err)
	}
	if _, err := LoadClients(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("a missing file must be named: %v", err)
	}
}

func TestTOMLErrorsNameFileAndLine(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, src, want string }{
		{"no token", "[a]\nplan = \"x\"\n", "c.toml:1: a: no token: each client needs token = \"...\""},
		{"token type", "[a]\n\ntoken = 3\n", "c.toml:3: a.token: want a non-empty string, got the integer 3"},
		{"empty token", "[a]\ntoken = \"\"\n", "c.toml:2: a.token: want a non-empty string, got the string \"\""},
		{"shared token", "[a]\ntoken = \"t\"\n[b]\ntoken = \"t\"\n", "c.toml:3: [a] and [b] share a token; each client needs its own"},
		{"not a table", "a = 1\n", "c.toml:1: a: want a table ([name] with token = \"...\"), got the integer 1"},
		{"negative quota", "[a]\ntoken = \"t\"\nmonthly_attempts = -1\n", "c.toml:3: a.monthly_attempts: want a non-negative integer, got the integer -1"},
		{"float quota", "[a]\ntoken = \"t\"\nmonthly_attempts = 1.5\n", "c.toml:3: a.monthly_attempts: want a non-negative integer, got the float 1.5"},
		{"params", "[a]\ntoken = \"t\"\nparams = 3\n", "c.toml:3: a.params: want a table, got the integer 3"},
		{"inline", "a = {token = 4}\n", "c.toml:1: a.token: want a non-empty string, got the integer 4"},
		{"syntax", "[a]\ntoken = \"t\"\n\n[b\n", "c.toml:5: expected '.' or ']' to end table name, but got '\\n' instead"},
	} {
		_, err := ParseClients("c.toml", []byte(c.src))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: got %v\nwant %s", c.name, err, c.want)
		}
	}
	for _, c := range []struct{ name, src, want string }{
		{"token type", "[w1]\ntoken = true\n", "w.toml:2: w1.token: want a non-empty string, got true"},
		{"bad id", "[ok]\ntoken = \"a\"\n[\"bad id\"]\ntoken = \"b\"\n", "w.toml:3: [bad id]: a worker id is 1 to 128 of [a-zA-Z0-9_-]"},
		{"not a table", "w1 = \"tok\"\n", "w.toml:1: w1: want a table ([name] with token = \"...\"), got the string \"tok\""},
	} {
		_, err := ParseWorkers("w.toml", []byte(c.src))
		if err == nil || err.Error() != c.want {
			t.Errorf("workers %s: got %v\nwant %s", c.name, err, c.want)
		}
	}
}

func FuzzParseClients(f *testing.F) {
	f.Add("[acme]\ntoken = \"tok\"\nplan = \"p\"\nmonthly_attempts = 5\nparams = {a = [1]}\n")
	f.Add("a = {token = 4}\n[b\n")
	f.Add("[[a]]\ntoken = \"x\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		cs, err := ParseClients("c.toml", []byte(s))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "c.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, c := range cs {
			if c.Token == "" || seen[c.Token] || (c.MonthlyAttempts != nil && *c.MonthlyAttempts < 0) {
				t.Fatalf("accepted a bad client %+v", c)
			}
			seen[c.Token] = true
		}
	})
}

func FuzzParseWorkers(f *testing.F) {
	f.Add("[gpu-01]\ntoken = \"s\"\n[x]\ny = 1\n")
	f.Add("w = 1\n")
	f.Fuzz(func(t *testing.T, s string) {
		ws, err := ParseWorkers("w.toml", []byte(s))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "w.toml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for id, tok := range ws {
			if tok == "" || id == "" {
				t.Fatalf("accepted %q = %q", id, tok)
			}
		}
	})
}

func FuzzParseDotEnv(f *testing.F) {
	f.Add("A=1\nB='x'\nC=\"y\\n\"\n# c\n")
	f.Add("export X = \"unterminated")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseDotEnv("f", strings.NewReader(s))
		if err == nil {
			for k := range m {
				if k == "" {
					t.Fatal("empty key")
				}
			}
		}
	})
}

func FuzzFromEnv(f *testing.F) {
	f.Add("API_PORT", "8080")
	f.Add("WORKER_TIMEOUT_SECONDS", "1e309")
	f.Add("LOG_LEVEL", "DEBUG")
	f.Fuzz(func(t *testing.T, k, v string) {
		c, err := FromEnv(env(map[string]string{k: v}))
		if err == nil && (c.Port < 0 || c.Port > 65535 || c.PollTimeout <= 0 || c.WorkerTimeout <= 0) {
			t.Fatalf("%s=%q gave %+v", k, v, c)
		}
	})
}

func TestConsoleSwitch(t *testing.T) {
	t.Parallel()
	for v, off := range map[string]bool{"": false, "on": false, "true": false, "off": true, "0": true, "false": true} {
		c, err := FromEnv(env(map[string]string{"CONSOLE": v}))
		if err != nil || c.NoConsole != off {
			t.Errorf("CONSOLE=%q: NoConsole %v, err %v; want %v", v, c.NoConsole, err, off)
		}
	}
}
