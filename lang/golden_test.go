package lang

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// golden compares got with the file, or rewrites the file with -update.
func golden(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./lang/... -update)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from the golden file (-update rewrites it)\n--- want\n%s\n--- got\n%s", file, want, got)
	}
}

// TestLintCorpus lints each wrong blueprint under testdata/lint: a .yaml
// file alone, or a folder as a whole, against its .out golden.
func TestLintCorpus(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "testdata", "lint")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		var fsys fs.FS
		var prefix string
		switch {
		case e.IsDir():
			fsys = os.DirFS(filepath.Join(dir, name))
			prefix = name
		case strings.HasSuffix(name, ".yaml"):
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			fsys = fstest.MapFS{name: {Data: b}}
		default:
			continue
		}
		n++
		caseName := strings.TrimSuffix(name, ".yaml")
		t.Run(caseName, func(t *testing.T) {
			t.Parallel()
			ds := LintFS(fsys)
			if len(ds) == 0 {
				t.Fatalf("no findings for a wrong blueprint")
			}
			for i := range ds {
				if prefix != "" {
					ds[i].Pos.File = path.Join(prefix, ds[i].Pos.File)
				}
				if ds[i].Pos.Line == 0 && ds[i].Rule != "unreadable" {
					t.Errorf("finding without a line: %v", ds[i])
				}
			}
			var buf bytes.Buffer
			if err := Print(&buf, "text", ds, func(f string) []byte {
				b, _ := os.ReadFile(filepath.Join(dir, filepath.FromSlash(f)))
				return b
			}); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join(dir, caseName+".out"), buf.Bytes())
		})
	}
	if n < 40 {
		t.Errorf("corpus has %d cases, want at least 40", n)
	}
}

// TestGraphGolden draws every example blueprint as DOT and Mermaid.
func TestGraphGolden(t *testing.T) {
	t.Parallel()
	set, ds := LoadDir(filepath.Join("..", "blueprints"))
	if len(ds) > 0 {
		t.Fatalf("examples do not lint clean:\n%v", ds)
	}
	if len(set.Machines) < 4 {
		t.Fatalf("want at least 4 examples, got %d", len(set.Machines))
	}
	for _, m := range set.Machines {
		golden(t, filepath.Join("..", "testdata", "graph", m.Name+".dot"), []byte(m.DOT()))
		golden(t, filepath.Join("..", "testdata", "graph", m.Name+".mmd"), []byte(m.Mermaid()))
		if m.DOT() != m.DOT() || m.Mermaid() != m.Mermaid() {
			t.Errorf("%s: output is not deterministic", m.Name)
		}
	}
}
