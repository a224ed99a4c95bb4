package orchestrator

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
)

const (
	reloadA      = "name: a\nendpoint: /jobs/a\nstart: s\nstates:\n  s: {end: success}\n"
	reloadAv2    = "name: a\nendpoint: /jobs/a\ndescription: second\nstart: s\nstates:\n  s: {end: success}\n"
	reloadB      = "name: b\nscript: b.star\nstart: s\nstates:\n  s:\n    choose:\n      - {when: big(1), go_to: ok}\n      - go_to: ok\n  ok: {end: success}\n"
	reloadStar   = "def big(n):\n    return n > 10\n"
	reloadParent = "name: parent\nstart: s\nstates:\n  s: {blueprint: child, transitions: {success: ok, failure: ok}}\n  ok: {end: success}\n"
	reloadChild  = "name: child\nstart: s\nstates:\n  s: {end: success}\n"
)

// TestReloadPerBlueprint: one save that changes a good blueprint, breaks a
// script, breaks a sub-blueprint and adds a broken file. The good change
// goes live; each broken one keeps its last good version (its parent
// too); the report, the log and the registry say which is which.
func TestReloadPerBlueprint(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, src := range map[string]string{"a.yaml": reloadA, "b.yaml": reloadB, "b.star": reloadStar,
		"parent.yaml": reloadParent, "child.yaml": reloadChild} {
		write(name, src)
	}
	var logs syncBuffer
	cfg := config.Default()
	cfg.BlueprintsDir = dir
	rec := &recorder{}
	x, err := New(Options{Store: memstore.New(memstore.Options{}), Config: cfg, Observer: rec,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	reg := x.Registry()
	before := map[string]string{}
	for _, n := range []string{"a", "b", "parent", "child"} {
		before[n] = reg.Current(n).Hash
	}

	write("a.yaml", reloadAv2)
	write("b.star", "def big(n):\n    return n >\n")
	write("child.yaml", "name: child\nstart: nowhere\nstates:\n  s: {end: success}\n")
	write("c.yaml", "name: c\nstart: s\nstates: {s: {go_to: gone}}\n")
	if x.Reload(context.Background()) {
		t.Fatal("Reload reported every change taken")
	}
	if h := reg.Current("a").Hash; h == before["a"] {
		t.Error("a: the good change did not go live")
	}
	for _, n := range []string{"b", "parent", "child"} {
		if m := reg.Current(n); m == nil || m.Hash != before[n] {
			t.Errorf("%s: want its last good version %s live, have %v", n, before[n][:12], m)
		}
	}
	if reg.Current("c") != nil {
		t.Error("c: a broken new file went live")
	}
	rep := x.LastReload()
	if len(rep.Applied) != 1 || rep.Applied[0].Name != "a" || rep.Applied[0].Version != reg.Current("a").Hash || rep.Applied[0].File != "a.yaml" {
		t.Errorf("applied: %+v, want a with its new version", rep.Applied)
	}
	refused := map[string]RefusedBlueprint{}
	for _, r := range rep.Refused {
		refused[r.File] = r
	}
	for file, want := range map[string]struct{ name, kept, sub, finding string }{
		"b.yaml":      {"b", before["b"], "", "b.star"},
		"child.yaml":  {"child", before["child"], "", "child.yaml:2"},
		"parent.yaml": {"parent", before["parent"], "child", "child.yaml:2"},
		"c.yaml":      {"c", "", "", "c.yaml:3"},
	} {
		r, ok := refused[file]
		if !ok {
			t.Errorf("%s: not reported refused (report %+v)", file, rep.Refused)
			continue
		}
		if r.Name != want.name || r.Kept != want.kept || r.Sub != want.sub || len(r.Findings) == 0 || !strings.Contains(r.Findings[0].Pos.String(), want.finding) {
			t.Errorf("%s: refused as %+v; want name %s, kept %.12s, sub %q, a finding at %s", file, r, want.name, want.kept, want.sub, want.finding)
		}
	}
	if len(rep.Refused) != 4 {
		t.Errorf("refused %d files, want 4: %+v", len(rep.Refused), rep.Refused)
	}
	if len(reg.Refused()) == 0 {
		t.Error("the registry holds no findings of the refused files")
	}
	log := logs.String()
	for _, want := range []string{`msg="blueprint applied" blueprint=a`, `msg="blueprint refused; keeping its last good version" file=b.yaml blueprint=b kept_version=` + before["b"][:12],
		"file=parent.yaml blueprint=parent", `sub-blueprint \"child\" was refused`, "file=c.yaml blueprint=c kept_version=none"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}

	// Fixing them goes live at once, every refusal forgotten.
	write("b.star", reloadStar+"# fixed\n")
	write("child.yaml", reloadChild)
	if err := os.Remove(filepath.Join(dir, "c.yaml")); err != nil {
		t.Fatal(err)
	}
	if !x.Reload(context.Background()) {
		t.Fatalf("fixed folder refused: %+v", x.LastReload().Refused)
	}
	if reg.Current("b").Hash == before["b"] || len(reg.Refused()) != 0 {
		t.Errorf("after the fix: b %s, findings %v", reg.Current("b").Hash[:12], reg.Refused())
	}
	if rep := x.LastReload(); len(rep.Applied) != 1 || rep.Applied[0].Name != "b" {
		t.Errorf("after the fix applied %+v, want b alone (child is as before)", rep.Applied)
	}

	// A deleted file takes its blueprint away.
	if err := os.Remove(filepath.Join(dir, "a.yaml")); err != nil {
		t.Fatal(err)
	}
	x.Reload(context.Background())
	if reg.Current("a") != nil || len(x.LastReload().Removed) != 1 {
		t.Errorf("a.yaml deleted: a is %v, removed %v", reg.Current("a"), x.LastReload().Removed)
	}

	// A broken lint configuration belongs to no blueprint: the whole
	// save is refused.
	gen := reg.Generation()
	write(".avtomatika-lint.yaml", "rules: [\n")
	write("child.yaml", reloadChild+"description: changed\n")
	if x.Reload(context.Background()) || reg.Generation() != gen {
		t.Error("a broken lint configuration must refuse the whole folder")
	}
	if r := x.LastReload().Refused; len(r) != 1 || r[0].File != dir {
		t.Errorf("refused %+v, want the folder", r)
	}
}
