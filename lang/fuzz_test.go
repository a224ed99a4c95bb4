package lang

import (
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

// seedFiles adds every blueprint of testdata/lint and blueprints/ to f.
func seedFiles(f *testing.F) {
	for _, pat := range []string{"../testdata/lint/*.yaml", "../testdata/lint/*/*.yaml", "../blueprints/*.yaml"} {
		files, _ := filepath.Glob(pat)
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
}

// FuzzLoad: the loader never panics (a panic inside a pass would be an
// internal-error finding, which is also a failure here) and every finding
// has a position in the file.
func FuzzLoad(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		pf := Options{MaxSteps: 10_000}.parseFile(fstest.MapFS{"bp.yaml": {Data: src}}, "bp.yaml")
		for _, d := range pf.diags {
			if d.Rule == "internal-error" {
				t.Fatalf("internal error on %q: %v", src, d)
			}
			if d.Pos.File != "bp.yaml" || d.Pos.Line < 1 {
				t.Fatalf("finding without a position on %q: %v", src, d)
			}
		}
		if pf.machine != nil && !pf.diags.HasErrors() {
			_ = pf.machine.DOT()
			_ = pf.machine.Mermaid()
		}
	})
}

// FuzzLintFile lints a whole file beside a script and a sub-blueprint.
func FuzzLintFile(f *testing.F) {
	seedFiles(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{
			"bp.yaml":    {Data: src},
			"bp.star":    {Data: []byte("def too_large(items):\n    return len(items) > 3\n")},
			"child.yaml": {Data: []byte("name: send_notification\nstart: s\nstates:\n  s: {end: success}\n")},
		}
		ds := Options{MaxSteps: 10_000}.lintFS(fsys)
		for _, d := range ds {
			if d.Rule == "internal-error" {
				t.Fatalf("internal error on %q: %v", src, d)
			}
		}
	})
}
