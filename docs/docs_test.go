// Package docs_test holds the documentation to what runs: the signing
// vectors of protocol.md against the signing code, every blueprint snippet
// of the docs through the linter, every file a doc names against the tree,
// and every link against its target.
package docs_test

import (
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// root is the repository's root, relative to this folder.
const root = ".."

// docFiles are the Markdown files of the project, relative to root.
func docFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, pattern := range []string{"*.md", "docs/*.md", "examples/*/*.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range m {
			rel, _ := filepath.Rel(root, f)
			out = append(out, filepath.ToSlash(rel))
		}
	}
	if len(out) < 5 {
		t.Fatalf("found %d Markdown files: %v", len(out), out)
	}
	return out
}

func read(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fence is one fenced code block: its info string, text and line.
type fence struct {
	info, text string
	line       int
}

func fences(doc string) []fence {
	var out []fence
	lines := strings.Split(doc, "\n")
	for i := 0; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(l, "```") {
			continue
		}
		f := fence{info: strings.TrimPrefix(l, "```"), line: i + 1}
		var body []string
		for i++; i < len(lines) && strings.TrimSpace(lines[i]) != "```"; i++ {
			body = append(body, lines[i])
		}
		f.text = strings.Join(body, "\n") + "\n"
		out = append(out, f)
	}
	return out
}

// TestSigningVectors: the vectors protocol.md gives are what the signing
// code computes.
func TestSigningVectors(t *testing.T) {
	t.Parallel()
	n := 0
	for _, f := range fences(read(t, "docs/protocol.md")) {
		if f.info != "signing" {
			continue
		}
		n++
		v := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(f.text), "\n") {
			k, val, ok := strings.Cut(l, ": ")
			if !ok {
				t.Fatalf("protocol.md:%d: %q is not KEY: VALUE", f.line, l)
			}
			v[k] = val
		}
		kind := wire.KindMessage
		if v["kind"] == "event" {
			kind = wire.KindEvent
		}
		c, err := wire.Canonical([]byte(v["body"]), kind)
		if err != nil || string(c) != v["canonical"] {
			t.Errorf("protocol.md:%d: canonical form\n got %s (%v)\nwant %s", f.line, c, err, v["canonical"])
		}
		sig, err := wire.Sign(v["secret"], []byte(v["body"]), kind)
		if err != nil || sig != v["signature"] {
			t.Errorf("protocol.md:%d: signature %s (%v), the doc says %s", f.line, sig, err, v["signature"])
		}
	}
	if n < 3 {
		t.Errorf("protocol.md has %d signing vectors, want at least 3", n)
	}
}

// fragmentRules are the findings a snippet that shows a few states is
// checked for: it names states and blueprints it does not show, so the
// rules about the graph and names defined elsewhere are left out.
var fragmentRules = map[string]bool{
	"action-count": true, "bad-duration": true, "duplicate-key": true, "invalid-schema": true,
	"missing-key": true, "starlark-syntax": true, "unclosed-template": true, "unknown-key": true,
	"unknown-strategy": true, "wrong-type": true, "yaml-syntax": true, "end-with-transitions": true,
	"unknown-status": true, "unused-transitions": true,
}

// TestBlueprintSnippets lints every YAML block of the docs that is a
// blueprint (beside the blueprints of blueprints/, so sub-blueprints and
// scripts resolve) or a few of its states (wrapped into one).
func TestBlueprintSnippets(t *testing.T) {
	t.Parallel()
	base := fstest.MapFS{}
	ents, err := os.ReadDir(filepath.Join(root, "blueprints"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(root, "blueprints", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		base[e.Name()] = &fstest.MapFile{Data: b}
	}
	checked := 0
	for _, doc := range docFiles(t) {
		for _, f := range fences(read(t, doc)) {
			if f.info != "yaml" {
				continue
			}
			var node yaml.Node
			if err := yaml.Unmarshal([]byte(f.text), &node); err != nil {
				t.Errorf("%s:%d: the YAML block does not parse: %v", doc, f.line, err)
				continue
			}
			var top map[string]any
			if node.Kind != yaml.DocumentNode || node.Content[0].Kind != yaml.MappingNode || node.Decode(&top) != nil {
				continue // a list or a scalar: not a blueprint
			}
			where := doc + ":" + itoa(f.line)
			switch {
			case top["name"] == nil && top["states"] == nil && !statesOnly(top):
				continue // not a blueprint: a lint configuration, a blueprint test, ...
			case top["name"] != nil && top["states"] != nil:
				fsys := fstest.MapFS{}
				for k, v := range base {
					fsys[k] = v
				}
				fsys["snippet.yaml"] = &fstest.MapFile{Data: []byte(f.text)}
				for k := range base { // the snippet may be one of them, shown again
					if m := regexp.MustCompile(`(?m)^name: *(\w+)`).FindStringSubmatch(f.text); m != nil && strings.TrimSuffix(k, ".yaml") == m[1] {
						delete(fsys, k)
					}
				}
				for _, d := range lang.LintFS(fsys, "snippet.yaml") {
					t.Errorf("%s: blueprint snippet: %v", where, d)
				}
			default:
				src := f.text
				if top["states"] == nil {
					src = "states:\n" + indent(src)
				}
				src = "name: snippet\nstart: x\n" + src
				for _, d := range lang.LintFS(fstest.MapFS{"snippet.yaml": {Data: []byte(src)}}) {
					if fragmentRules[d.Rule] {
						t.Errorf("%s: snippet: %v\n%s", where, d, src)
					}
				}
			}
			checked++
		}
	}
	if checked < 10 {
		t.Errorf("checked %d blueprint snippets, want every one of the docs (10 or more)", checked)
	}
}

// actionKeys are the keys that make a mapping a state.
var actionKeys = []string{"approval", "blueprint", "choose", "end", "go_to", "parallel", "set", "store", "task", "until", "wait"}

// statesOnly reports whether every value of top is a state: a mapping
// with an action.
func statesOnly(top map[string]any) bool {
	for _, v := range top {
		st, ok := v.(map[string]any)
		if !ok {
			return false
		}
		found := false
		for _, k := range actionKeys {
			if _, ok := st[k]; ok {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return len(top) > 0
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "" && !strings.HasPrefix(l, "  ") {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func itoa(n int) string { return strconv.Itoa(n) }

var (
	// pathRe finds a backticked file or folder of the repository.
	pathRe = regexp.MustCompile("`((?:cmd|lang|runtime|sdk|internal|docs|blueprints|schemas|testdata|examples|bench)/[A-Za-z0-9_./*-]*)")
	linkRe = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	// outside are references to what is not in the repository.
	outside = regexp.MustCompile(`PROTOCOL\.md|BLUEPRINTS\.md|DESIGN\.md|STYLE\.md|HOUSE\.md|/work/|shared/seeds|shared/pystack|\bissue \d+|§\s?\d`)
)

// TestDocsNameRealFiles: every path a doc names in backquotes exists,
// every relative link leads to a file (and a heading of it), and no doc
// refers to documents outside the repository.
func TestDocsNameRealFiles(t *testing.T) {
	t.Parallel()
	anchors := map[string]map[string]bool{}
	for _, doc := range docFiles(t) {
		anchors[doc] = headingAnchors(read(t, doc))
	}
	for _, doc := range docFiles(t) {
		text := read(t, doc)
		for i, line := range strings.Split(text, "\n") {
			where := doc + ":" + itoa(i+1)
			if m := outside.FindString(line); m != "" {
				t.Errorf("%s: refers to %q, which is not part of the repository", where, m)
			}
			for _, m := range pathRe.FindAllStringSubmatch(line, -1) {
				p := strings.TrimRight(m[1], ".:,")
				if i := regexp.MustCompile(`\.[A-Z]`).FindStringIndex(p); i != nil {
					p = p[:i[0]] // a Go name in the package: runtime/store.Store
				}
				if strings.ContainsAny(p, "*") {
					p = path.Dir(p)
				}
				if _, err := os.Stat(filepath.Join(root, p)); err != nil {
					t.Errorf("%s: names %s, which does not exist", where, p)
				}
			}
			for _, m := range linkRe.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				dest := doc
				if file != "" {
					dest = path.Clean(path.Join(path.Dir(doc), file))
					if _, err := os.Stat(filepath.Join(root, dest)); err != nil {
						t.Errorf("%s: link to %s, which does not exist", where, target)
						continue
					}
				}
				if anchor != "" {
					if a, ok := anchors[dest]; ok && !a[anchor] {
						t.Errorf("%s: link to %s: %s has no heading #%s", where, target, dest, anchor)
					}
				}
			}
		}
	}
}

// headingAnchors are the anchors GitHub gives a document's headings.
func headingAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	inFence := false
	for _, l := range strings.Split(doc, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "```") {
			inFence = !inFence
		}
		if inFence || !strings.HasPrefix(l, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(l, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(h) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r > 127:
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		out[b.String()] = true
	}
	return out
}

// TestRedisKeyLayout: every key the Redis store's package comment lists
// is in store.md's table, and the other way round.
func TestRedisKeyLayout(t *testing.T) {
	t.Parallel()
	src := read(t, "runtime/store/redisstore/store.go")
	start := strings.Index(src, "// # Key layout")
	end := strings.Index(src, "// Memory per queued job")
	if start < 0 || end < start {
		t.Fatal("runtime/store/redisstore/store.go: no Key layout section in the package comment")
	}
	keyRe := regexp.MustCompile(`^//\t([a-z][a-z]*(?::<[a-z]+>)*(?:, [a-z][a-z]*(?::<[a-z]+>)*)*) +[a-z]`)
	code := map[string]bool{}
	for _, l := range strings.Split(src[start:end], "\n") {
		m := keyRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		for _, k := range strings.Split(m[1], ", ") {
			code[k] = true
		}
	}
	// Keys named inside a description line: ql:<type>:<score> and the like.
	for _, m := range regexp.MustCompile(`\b(w?ql:<[a-z]+>:<[a-z]+>|wqp:<[a-z]+>|sts:<[a-z]+>|tmd)`).FindAllString(src[start:end], -1) {
		code[m] = true
	}
	if len(code) < 15 {
		t.Fatalf("read %d keys from the package comment: %v", len(code), code)
	}
	doc := read(t, "docs/store.md")
	i := strings.Index(doc, "## For the Redis store")
	j := strings.Index(doc, "## What the memory store keeps")
	if i < 0 || j < i {
		t.Fatal("docs/store.md: no For the Redis store section")
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| (`[^|]+`) \\|").FindAllStringSubmatch(doc[i:j], -1) {
		for _, k := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(m[1], -1) {
			documented[k[1]] = true
		}
	}
	for k := range code {
		if !documented[k] {
			t.Errorf("key %s of the Redis store is not in docs/store.md's table", k)
		}
	}
	for k := range documented {
		if !code[k] && k != "key" {
			t.Errorf("docs/store.md lists key %s, which the Redis store's package comment does not", k)
		}
	}
}
