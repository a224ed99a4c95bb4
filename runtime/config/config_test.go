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
	c, err = FromEnv(env(map[string]string{"API_PORT": "9000", "WORKER_POLL_TIMEOUT_SECONDS": "2.5", "LOG_FORMAT": "JSON", "REDIS_HOST": "r", "REDIS_PORT": "7000", "REDIS_DB": "2"}))
	if err != nil || c.Port != 9000 || c.PollTimeout != 2500*time.Millisecond || c.LogFormat != "json" || c.RedisURL != "redis://r:7000/2" {
		t.Fatalf("values: %+v %v", c, err)
	}
	for name, val := range map[string]string{
		"API_PORT": "http", "WORKER_TIMEOUT_SECONDS": "-1", "LOG_LEVEL": "loud", "LOG_FORMAT": "xml",
		"MAX_TRANSITIONS_PER_JOB": "0", "WORKER_VERIFY_SIGNATURES": "maybe", "WORKER_POLL_TIMEOUT_SECONDS": "1000",
	} {
		_, err := FromEnv(env(map[string]string{name: val}))
		if err == nil || !strings.Contains(err.Error(), strings.Split(name, "=")[0]) {
			t.Errorf("%s=%s: error %v must name the variable", name, val, err)
		}
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
	cs, err := LoadClients(write(t, "clients.toml", "[acme]\ntoken = \"tok\"\nplan = \"premium\"\nmonthly_attempts = 5\nparams = {languages = [\"en\"]}\nregion = \"eu\"\n"))
	if err != nil || len(cs) != 1 || cs[0].Name != "acme" || *cs[0].MonthlyAttempts != 5 || cs[0].Fields["region"] != "eu" {
		t.Fatalf("%+v %v", cs, err)
	}
	for _, bad := range []string{"[a]\nplan = \"x\"\n", "[a]\ntoken = 3\n", "[a]\ntoken = \"t\"\n[b]\ntoken = \"t\"\n", "a = 1\n", "[a]\ntoken = \"t\"\nmonthly_attempts = -1\n"} {
		if _, err := LoadClients(write(t, "c.toml", bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	_, err = LoadClients(write(t, "c.toml", "[a]\ntoken = \"t\"\n\n[b\n"))
	if err == nil || !(strings.Contains(err.Error(), "c.toml:4:") || strings.Contains(err.Error(), "c.toml:5:")) {
		t.Errorf("syntax error must name file:line: %v", err)
	}
	ws, err := LoadWorkers(write(t, "workers.toml", "[gpu-01]\ntoken = \"s\"\n[no-token]\nx = 1\n"))
	if err != nil || len(ws) != 1 || ws["gpu-01"] != "s" {
		t.Fatalf("%v %v", ws, err)
	}
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
