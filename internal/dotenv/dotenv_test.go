package dotenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden parses every testdata/*.env (the cookbooks' configuration
// blocks as published, and one file of every convention) and compares
// the result, as sorted JSON, with testdata/*.golden.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.env"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			m, err := Read(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := json.MarshalIndent(m, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			golden := strings.TrimSuffix(f, ".env") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s:\n got %s\nwant %s", f, got, want)
			}
		})
	}
}

// TestCookbookOrchestrators: the multi-line single-quoted list of the
// cookbook is the JSON the worker's ORCHESTRATORS_CONFIG wants.
func TestCookbookOrchestrators(t *testing.T) {
	for file, want := range map[string][]string{
		"failover.env":    {"http://main-orchestrator:8080", "http://backup-orchestrator:8080"},
		"round_robin.env": {"http://orchestrator-1:8080", "http://orchestrator-2:8080"},
	} {
		m, err := Read(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		var list []struct{ URL string }
		if err := json.Unmarshal([]byte(m["ORCHESTRATORS_CONFIG"]), &list); err != nil {
			t.Fatalf("%s: ORCHESTRATORS_CONFIG %q: %v", file, m["ORCHESTRATORS_CONFIG"], err)
		}
		var urls []string
		for _, o := range list {
			urls = append(urls, o.URL)
		}
		if !reflect.DeepEqual(urls, want) {
			t.Errorf("%s: urls %q, want %q", file, urls, want)
		}
	}
}

func TestValues(t *testing.T) {
	for _, tc := range []struct{ src, key, want string }{
		{"K=v", "K", "v"},
		{"K=v\r\n", "K", "v"},
		{"K='a\r\nb'\r\n", "K", "a\nb"},
		{"K=\"a\\\nb\"", "K", "a\\\nb"},
		{"K=\"tab\\tend\"", "K", "tab\tend"},
		{"K=\"\\\\n\"", "K", `\n`},
		{"K='\\n'", "K", `\n`},
		{"K=a\t# c", "K", "a"},
		{"K=\"x\"# c", "K", "x"},
		{"K=\"x\"  \t", "K", "x"},
		{"export=1", "export", "1"},
		{"exportK=1", "exportK", "1"},
		{"export\tK=1", "K", "1"},
	} {
		m, err := Parse("t.env", strings.NewReader(tc.src))
		if err != nil {
			t.Errorf("%q: %v", tc.src, err)
			continue
		}
		if v, ok := m[tc.key]; !ok || v != tc.want || len(m) != 1 {
			t.Errorf("%q: %q, want %s=%q", tc.src, m, tc.key, tc.want)
		}
	}
}

// TestErrors: each error names the file and the line of the entry at
// fault (for a value spanning lines, the line of its key).
func TestErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"OK=1\nNOEQUALS\n", "t.env:2: want KEY=VALUE"},
		{"OK=1\n=v\n", "t.env:2: want KEY=VALUE"},
		{"OK=1\nA B=1\n", "t.env:2: want KEY=VALUE"},
		{"OK=1\n'Q'=1\n", "t.env:2: want KEY=VALUE"},
		{"OK=1\nexport\n", "t.env:2: want KEY=VALUE"},
		{"OK=1\nX=\"open\n", "t.env:2: X: unclosed quote"},
		{"OK='a\nb'\nX='open\nY=2\n", "t.env:3: X: unclosed quote"},
		{"OK=\"a\nb\"\nX=\"ends \\\"\n", "t.env:3: X: unclosed quote"},
		{"A='x\ny'z\n", "t.env:1: A: unexpected \"z\" after the closing quote"},
		{"OK=1\n\n\nB=\"x\" y # c\n", "t.env:4: B: unexpected \"y # c\" after the closing quote"},
	} {
		_, err := Parse("t.env", strings.NewReader(tc.src))
		var e *Error
		if err == nil || err.Error() != tc.want || !errors.As(err, &e) {
			t.Errorf("%q: error %v, want %s", tc.src, err, tc.want)
		}
	}
	if _, err := Parse("big.env", strings.NewReader("K="+strings.Repeat("x", MaxSize))); err == nil || !strings.Contains(err.Error(), "big.env: larger than") {
		t.Errorf("too large: %v", err)
	}
	if m, err := Read(filepath.Join(t.TempDir(), "missing.env")); m != nil || err != nil {
		t.Errorf("missing file: %v %v, want nil nil", m, err)
	}
}

// quote writes v as a double-quoted value.
func quote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(v) + `"`
}

// FuzzParse: Parse never panics; what it accepts has keys that are
// non-empty and written back as KEY="escaped", parses to the same map.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"failover.env", "conventions.env", "s3.env"} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("A=1\nB='x'\nC=\"y\\n\"\n# c\n")
	f.Add("export X = \"unterminated")
	f.Add("K='a\r\nb'\r\nL=\"\\\r\n\"")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse("f", strings.NewReader(s))
		if err != nil {
			return
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			if k == "" || strings.ContainsAny(k, " \t\n=\"'") {
				t.Fatalf("key %q", k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			b.WriteString(k + "=" + quote(m[k]) + "\n")
		}
		back, err := Parse("f", strings.NewReader(b.String()))
		if err != nil {
			t.Fatalf("written back %q: %v", b.String(), err)
		}
		if !reflect.DeepEqual(back, m) {
			t.Fatalf("written back %q: %q, want %q", b.String(), back, m)
		}
	})
}
