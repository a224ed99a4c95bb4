package lang

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/avtomatika-ai/avtomatika-go/lang/internal/spell"
)

// Set is the compiled blueprints of one folder, sorted by name.
type Set struct {
	Machines []*Machine
	// Refused are the blueprint files of the folder that gave no machine:
	// their own errors (or their scripts'), a clash with another file, or
	// a sub-blueprint that was refused. Sorted by file.
	Refused []Refusal
}

// Refusal is one blueprint file left out of a Set and why.
type Refusal struct {
	File string // the YAML file, as Machine.File
	Name string // the blueprint's name when it could be read, else ""
	// Findings are the errors that refused it; for a blueprint refused
	// for a sub-blueprint's sake, Sub names that one and Findings are its.
	Findings Diagnostics
	Sub      string
}

// Lookup returns the machine of that name, or nil.
func (s *Set) Lookup(name string) *Machine {
	if s == nil {
		return nil
	}
	i := sort.Search(len(s.Machines), func(i int) bool { return s.Machines[i].Name >= name })
	if i < len(s.Machines) && s.Machines[i].Name == name {
		return s.Machines[i]
	}
	return nil
}

// ByEndpoint returns the machine whose endpoint is p, or nil.
func (s *Set) ByEndpoint(p string) *Machine {
	if s == nil {
		return nil
	}
	for _, m := range s.Machines {
		if m.Endpoint != "" && m.Endpoint == p {
			return m
		}
	}
	return nil
}

// Options tune loading. The zero value is the default.
type Options struct {
	// MaxSteps bounds each evaluation; 0 means DefaultMaxSteps.
	MaxSteps uint64

	// visit, when set, sees every mapping key as the loader reads it
	// (tests use it to fail a pass at a chosen node).
	visit func(key *yaml.Node)
}

// LoadDir loads every blueprint of a folder. See LoadFS.
func LoadDir(dir string) (*Set, Diagnostics) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, Diagnostics{RuleUnreadable.at(Pos{File: dir}, fmt.Sprintf("cannot read blueprints folder: %v", errors.Unwrap(err)))}
	}
	if !st.IsDir() {
		return nil, Diagnostics{RuleUnreadable.at(Pos{File: dir}, "not a folder")}
	}
	return LoadFS(os.DirFS(dir))
}

// LoadFS loads, lints and compiles every *.yaml and *.yml file of fsys
// (recursively; hidden folders and blueprint tests, IsTestFile, are skipped). It returns the machines of
// the files without errors and every diagnostic, sorted. A folder whose
// diagnostics hold an error should be refused whole by a runtime.
func LoadFS(fsys fs.FS) (*Set, Diagnostics) {
	return Options{}.LoadFS(fsys)
}

// LoadFS is LoadFS with options.
func (o Options) LoadFS(fsys fs.FS) (*Set, Diagnostics) {
	files, ds := blueprintFiles(fsys)
	// Files parse and compile independently: spread them over the cores.
	parsed := make([]*parsedFile, len(files))
	workers := min(runtime.GOMAXPROCS(0), len(files))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(files) {
					return
				}
				parsed[i] = o.parseFile(fsys, files[i])
			}
		}()
	}
	wg.Wait()
	// The folder's lint configuration and ignore comments drop and
	// re-grade findings before a file's errors decide its machine.
	cfg := readLintConfig(fsys)
	srcs := map[string][]byte{}
	for _, pf := range parsed {
		srcs[pf.file] = pf.src
	}
	source := func(f string) []byte {
		b, ok := srcs[f]
		if !ok {
			b, _ = fs.ReadFile(fsys, f)
			srcs[f] = b
		}
		return b
	}
	ds = append(ds, cfg.diags...)
	cross := cfg.apply(crossCheck(parsed), source)
	ds = append(ds, cross...)
	set := &Set{}
	refused := map[string]Refusal{} // by name, for the sub-blueprint rule
	var good []*parsedFile
	for _, pf := range parsed {
		pf.diags = cfg.apply(pf.diags, source, pf.file)
		ds = append(ds, pf.diags...)
		if pf.machine != nil && !pf.failed && !pf.diags.HasErrors() {
			good = append(good, pf)
			continue
		}
		r := Refusal{File: pf.file}
		if pf.machine != nil {
			r.Name = pf.machine.Name
		}
		for _, d := range pf.diags {
			if d.Severity == SeverityError {
				r.Findings = append(r.Findings, d)
			}
		}
		for _, d := range cross {
			if d.Pos.File == pf.file && d.Severity == SeverityError {
				r.Findings = append(r.Findings, d)
			}
		}
		set.Refused = append(set.Refused, r)
		if r.Name != "" {
			refused[r.Name] = r
		}
	}
	// A blueprint that starts a refused one as its child is refused too,
	// up the chain.
	for changed := true; changed; {
		changed = false
		keep := good[:0]
		for _, pf := range good {
			sub, found := Refusal{}, false
			for _, s := range pf.subs {
				if sub, found = refused[s.name]; found {
					break
				}
			}
			if !found {
				keep = append(keep, pf)
				continue
			}
			r := Refusal{File: pf.file, Name: pf.machine.Name, Sub: sub.Name, Findings: sub.Findings}
			set.Refused = append(set.Refused, r)
			refused[r.Name] = r
			changed = true
		}
		good = keep
	}
	for _, pf := range good {
		set.Machines = append(set.Machines, pf.machine)
	}
	sort.Slice(set.Machines, func(i, j int) bool { return set.Machines[i].Name < set.Machines[j].Name })
	sort.SliceStable(set.Refused, func(i, j int) bool { return set.Refused[i].File < set.Refused[j].File })
	return set, ds.Sort()
}

// LintFS lints the blueprints of fsys and returns the diagnostics of the
// named files (all files when none is named). Other files of the folder
// take part: sub-blueprint names resolve, duplicates are found. A named
// .star file is compiled and run as a script on its own too, so a script
// no blueprint uses yet is checked as well.
func LintFS(fsys fs.FS, paths ...string) Diagnostics {
	return Options{}.lintFS(fsys, paths...)
}

func (o Options) lintFS(fsys fs.FS, paths ...string) Diagnostics {
	_, ds := o.LoadFS(fsys)
	if len(paths) == 0 {
		return ds
	}
	want := map[string]bool{}
	out := Diagnostics{}
	blueprints := false
	for _, p := range paths {
		p = path.Clean(p)
		want[p] = true
		blueprints = blueprints || !strings.HasSuffix(p, ".star")
		if strings.HasSuffix(p, ".star") {
			_, sd := compileScript(fsys, p, o.MaxSteps)
			for i := range sd {
				if sd[i].Rule == RuleMissingScript.Name && sd[i].Pos.File == p && sd[i].Pos.Line == 0 {
					sd[i] = RuleUnreadable.at(Pos{File: p}, strings.TrimPrefix(sd[i].Message, fmt.Sprintf("script %q ", p)))
				}
			}
			source := func(f string) []byte { b, _ := fs.ReadFile(fsys, f); return b }
			out = append(out, readLintConfig(fsys).apply(sd, source, p)...)
		}
	}
	for _, d := range ds {
		if want[d.Pos.File] || d.Pos.File == "" || d.Pos.File == LintConfigFile {
			out = append(out, d)
		}
	}
	// A script's findings belong to the blueprint that uses it.
	for _, d := range ds {
		if blueprints && !want[d.Pos.File] && strings.HasSuffix(d.Pos.File, ".star") {
			out = append(out, d)
		}
	}
	return out.Sort()
}

// Rebuild compiles one blueprint from the exact sources a Machine kept
// (Machine.Sources, Machine.File), so any instance can run a version by
// hash. Sub-blueprints are referred to by name and resolved at run time.
func Rebuild(file string, sources map[string][]byte) (*Machine, error) {
	fsys := mapFS(sources)
	pf := Options{}.parseFile(fsys, file)
	// The folder's lint configuration may have let findings of
	// suppressible rules pass; the machine runs as written all the same.
	var hard Diagnostics
	for _, d := range pf.diags {
		if r := LookupRule(d.Rule); d.Severity == SeverityError && (r == nil || !r.Suppressible) {
			hard = append(hard, d)
		}
	}
	if len(hard) > 0 || pf.machine == nil {
		return nil, fmt.Errorf("rebuild %s: %w", file, hard.Sort())
	}
	return pf.machine, nil
}

func blueprintFiles(fsys fs.FS) ([]string, Diagnostics) {
	var files []string
	var ds Diagnostics
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			ds = append(ds, RuleUnreadable.at(Pos{File: p}, err.Error()))
			return nil
		}
		if d.IsDir() {
			if p != "." && strings.HasPrefix(d.Name(), ".") {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			return nil
		}
		if (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) && !IsTestFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		ds = append(ds, RuleUnreadable.at(Pos{File: "."}, err.Error()))
	}
	sort.Strings(files)
	return files, ds
}

// parsedFile is one blueprint file on its way to a machine.
type parsedFile struct {
	file    string
	src     []byte
	machine *Machine
	diags   Diagnostics
	// Positions for cross-file checks.
	namePos, endpointPos Pos
	subs                 []subRef
	// failed is set by the folder checks (duplicates, unknown sub-blueprints).
	failed bool
}

type subRef struct {
	name string
	pos  Pos
}

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9_]+$`)
	endpointRE = regexp.MustCompile(`^/[A-Za-z0-9_\-./{}]*$`)
	topKeys    = []string{"defaults", "description", "endpoint", "input", "name", "schedule", "script", "start", "states", "stores"}
	stateKeys  = []string{"approval", "blueprint", "choose", "description", "end", "go_to", "parallel", "set", "store", "task", "transitions", "until", "wait"}
	actionKeys = []string{"approval", "blueprint", "choose", "end", "go_to", "parallel", "task", "until", "wait"}
	taskKeys   = []string{"dispatch_timeout", "max_cost", "output_schema", "params", "priority", "requires", "retries", "retry_backoff", "strategy", "timeout", "type"}
	defaultKey = []string{"dispatch_timeout", "priority", "retries", "retry_backoff", "strategy", "timeout"}
)

// loader holds the state of parsing one file.
type loader struct {
	o    Options
	fsys fs.FS
	pf   *parsedFile
	m    *Machine
	prog *program
	// scriptFailed is set when the script the blueprint names did not load.
	scriptFailed bool
	diags        Diagnostics
	// opaque names states whose edges could not all be read, so the
	// graph checks do not pile findings on top.
	opaque map[string]bool
	// at is the key being read, where an internal error is reported.
	at *yaml.Node
	// suggested holds, per mapping, the keys offered for its unknown
	// keys: a "missing" finding for one of them would repeat the news.
	suggested map[*yaml.Node][]string
}

// wasSuggested reports whether an unknown key of mapping n was taken for
// one of keys.
func (l *loader) wasSuggested(n *yaml.Node, keys ...string) bool {
	for _, s := range l.suggested[deref(n)] {
		if contains(keys, s) {
			return true
		}
	}
	return false
}

func (l *loader) errf(n *yaml.Node, rule *Rule, format string, args ...any) {
	d := rule.atf(nodePos(l.pf.file, n), format, args...)
	// A plain one-line scalar is its own source text: underline all of it
	// (printers find the end of other spots themselves).
	if n != nil && n.Kind == yaml.ScalarNode && n.Style == 0 && n.Value != "" && !strings.Contains(n.Value, "\n") {
		d.EndCol = n.Column + utf8.RuneCountInString(n.Value) - 1
	}
	l.diags = append(l.diags, d)
}

func (l *loader) add(ds Diagnostics) { l.diags = append(l.diags, ds...) }

func (o Options) parseFile(fsys fs.FS, file string) (pf *parsedFile) {
	pf = &parsedFile{file: file}
	l := &loader{o: o, fsys: fsys, pf: pf}
	defer func() {
		if r := recover(); r != nil {
			at := Pos{File: file, Line: 1, Col: 1}
			if l.at != nil && l.at.Line > 0 {
				at = l.pos(l.at)
			}
			pf.machine = nil
			pf.diags = append(l.diags, RuleInternalError.at(at, fmt.Sprintf("internal error: %v", r)))
		}
	}()
	src, err := fs.ReadFile(fsys, file)
	if err != nil {
		pf.diags = Diagnostics{RuleUnreadable.at(Pos{File: file}, fmt.Sprintf("cannot read: %v", errors.Unwrap(err)))}
		return pf
	}
	pf.src = src
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		pf.diags = Diagnostics{yamlError(file, src, err)}
		return pf
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		pf.diags = Diagnostics{RuleMissingKey.at(Pos{File: file, Line: 1, Col: 1}, "empty blueprint: want a mapping with name, start and states")}
		return pf
	}
	root := doc.Content[0]
	if d, ok := extraDocument(file, src); ok {
		l.diags = append(l.diags, d)
	}
	l.decode(root)
	if !l.diags.HasErrors() {
		// The schema backs the loader up: it speaks only when the
		// loader's own checks found nothing.
		l.add(l.schemaCheck(root))
	}
	pf.diags = l.diags
	pf.machine = l.m
	return pf
}

// extraDocument finds a second YAML document in a file, which would
// otherwise be ignored: a file holds one blueprint.
func extraDocument(file string, src []byte) (Diagnostic, bool) {
	if !bytes.Contains(src, []byte("\n---")) && !bytes.Contains(src, []byte("\n...")) {
		return Diagnostic{}, false
	}
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var first, second yaml.Node
	if dec.Decode(&first) != nil {
		return Diagnostic{}, false
	}
	err := dec.Decode(&second)
	switch {
	case errors.Is(err, io.EOF):
		return Diagnostic{}, false
	case err != nil:
		return yamlError(file, src, err), true
	}
	n := &second
	if len(n.Content) > 0 {
		n = n.Content[0]
	}
	return RuleMultipleDocuments.at(nodePos(file, n), "a blueprint file holds one YAML document; this second one would be ignored (put each blueprint in a file of its own)"), true
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func yamlError(file string, src []byte, err error) Diagnostic {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 numbers lines from 0 for parser errors (from 1 for
		// scanner errors); the line is where the unfinished block or flow
		// collection starts.
		if strings.HasPrefix(msg, "did not find expected key") || strings.HasPrefix(msg, "did not find expected node content") ||
			strings.HasPrefix(msg, "did not find expected ','") || strings.HasPrefix(msg, "did not find expected '-'") ||
			strings.HasPrefix(msg, "did not find expected <") {
			line++
		}
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	lines := strings.Split(string(src), "\n")
	// An error at the end of the file (an unclosed collection, mostly)
	// points at the last line that has any text.
	last := len(lines)
	for last > 1 && strings.TrimSpace(lines[last-1]) == "" {
		last--
	}
	if line < 1 {
		line = 1
	}
	if line > last {
		line = last
		msg += " at the end of the file"
	}
	col := 1
	if line <= len(lines) {
		text := lines[line-1]
		col += len([]rune(text)) - len([]rune(strings.TrimLeft(text, " ")))
		if strings.HasPrefix(strings.TrimLeft(text, " "), "\t") {
			msg += " (a tab: YAML indents with spaces)"
		}
	}
	switch {
	case strings.HasPrefix(msg, "did not find expected key"), strings.HasPrefix(msg, "did not find expected '-'"):
		// yaml.v3 names the line where the block starts; the mistake is
		// most often a later line indented to no open block's level.
		if at, indent, levels, ok := misindented(lines, line); ok {
			line, col = at, indent+1
			msg += fmt.Sprintf(" (this line is indented %d spaces; the blocks around it are indented %s)", indent, joinInts(levels))
		}
	case strings.HasPrefix(msg, "did not find expected ',' or '}'"), strings.HasPrefix(msg, "did not find expected ',' or ']'"):
		// The line is where the unclosed flow collection opens: point at
		// its opening bracket.
		open := '{'
		if strings.HasSuffix(msg, "']'") {
			open = '['
		}
		if c, ok := unclosedAt(lines[line-1], open); ok {
			d := RuleYAMLSyntax.at(Pos{File: file, Line: line, Col: c}, fmt.Sprintf("yaml: %s (the %c here is never closed)", msg, open))
			d.EndCol = c
			return d
		}
	}
	return RuleYAMLSyntax.at(Pos{File: file, Line: line, Col: col}, "yaml: "+msg)
}

// misindented looks for the first content line after line from (1-based,
// where a block starts) that dedents to an indentation no enclosing block
// has. It returns that line, its indentation and the open levels there.
func misindented(lines []string, from int) (line, indent int, levels []int, ok bool) {
	if from < 1 || from > len(lines) {
		return 0, 0, nil, false
	}
	stack := []int{}
	push := func(text string) {
		d := indentOf(text)
		if len(stack) == 0 || d > stack[len(stack)-1] {
			stack = append(stack, d)
		}
		// The content of a sequence item opens a block after "- ".
		if rest := strings.TrimLeft(text, " "); strings.HasPrefix(rest, "- ") {
			item := strings.TrimLeft(rest[2:], " ")
			if item != "" && !strings.HasPrefix(item, "#") {
				stack = append(stack, len(text)-len(item))
			}
		}
	}
	push(lines[from-1])
	base, prev := stack[0], indentOf(lines[from-1])
	for i := from; i < len(lines); i++ {
		text := strings.TrimRight(lines[i], "\r")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasPrefix(trimmed, "\t") || text == "---" || text == "..." {
			return 0, 0, nil, false
		}
		d := indentOf(text)
		if d < base {
			return 0, 0, nil, false // the block ended without a stray line
		}
		for len(stack) > 0 && stack[len(stack)-1] > d {
			stack = stack[:len(stack)-1]
		}
		if stack[len(stack)-1] != d && d < prev {
			levels = append([]int(nil), stack...)
			if next := nextLevel(lines, i, d); next >= 0 {
				levels = append(levels, next)
			}
			return i + 1, d, levels, true
		}
		prev = d
		push(text)
	}
	return 0, 0, nil, false
}

// nextLevel is the indentation of the closest deeper block just above
// line i that the dedent to d left, or -1.
func nextLevel(lines []string, i, d int) int {
	for j := i - 1; j >= 0; j-- {
		t := strings.TrimRight(lines[j], "\r")
		if strings.TrimSpace(t) == "" || strings.HasPrefix(strings.TrimLeft(t, " "), "#") {
			continue
		}
		if indentOf(t) > d {
			return indentOf(t)
		}
		return -1
	}
	return -1
}

func indentOf(s string) int { return len(s) - len(strings.TrimLeft(s, " ")) }

func joinInts(xs []int) string {
	sort.Ints(xs)
	var parts []string
	for i, x := range xs {
		if i > 0 && x == xs[i-1] {
			continue
		}
		parts = append(parts, strconv.Itoa(x))
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return parts[0]
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " or " + parts[len(parts)-1]
}

// unclosedAt returns the column (1-based, in runes) of the last opening
// bracket on the line that the line itself does not close, outside quotes
// and comments.
func unclosedAt(line string, open rune) (int, bool) {
	close := '}'
	if open == '[' {
		close = ']'
	}
	rs := []rune(line)
	var opens []int
	var quote rune
scan:
	for i, r := range rs {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
		case r == '"' || r == '\'':
			quote = r
		case r == '#' && (i == 0 || rs[i-1] == ' '):
			break scan
		case r == open:
			opens = append(opens, i+1)
		case r == close && len(opens) > 0:
			opens = opens[:len(opens)-1]
		}
	}
	if len(opens) == 0 {
		return 0, false
	}
	return opens[len(opens)-1], true
}

// pairs returns the key/value nodes of a mapping, reporting duplicate
// keys and keys outside known (nil: any key).
func (l *loader) pairs(n *yaml.Node, what string, known []string) [][2]*yaml.Node {
	n = deref(n)
	if n.Kind != yaml.MappingNode {
		l.errf(n, RuleWrongType, "%s must be a mapping, not %s", what, kindName(n))
		return nil
	}
	seen := map[string]bool{}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		l.at = k
		if l.o.visit != nil {
			l.o.visit(k)
		}
		if k.Kind != yaml.ScalarNode {
			l.errf(k, RuleWrongType, "a key of %s must be a string", what)
			continue
		}
		if seen[k.Value] {
			l.errf(k, RuleDuplicateKey, "key %q appears twice in %s", k.Value, what)
			continue
		}
		seen[k.Value] = true
		if known != nil && !contains(known, k.Value) {
			msg := fmt.Sprintf("unknown key %q in %s", k.Value, what)
			if s := spell.Nearest(k.Value, known); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
				if l.suggested == nil {
					l.suggested = map[*yaml.Node][]string{}
				}
				l.suggested[n] = append(l.suggested[n], s)
			} else {
				msg += "; valid keys: " + strings.Join(known, ", ")
			}
			l.errf(k, RuleUnknownKey, "%s", msg)
			continue
		}
		out = append(out, [2]*yaml.Node{k, deref(v)})
	}
	// The caller reads the values next: they lie within this mapping.
	l.at = n
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "null"
		case "!!int", "!!float":
			return "a number"
		case "!!bool":
			return "a boolean"
		}
		return "a string"
	}
	return "empty"
}

// str reads a string scalar.
func (l *loader) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.errf(n, RuleWrongType, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	if n.ShortTag() != "!!str" {
		l.errf(n, RuleWrongType, "%s must be a string, not %s", what, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (l *loader) pos(n *yaml.Node) Pos { return nodePos(l.pf.file, n) }

func (l *loader) scope(state, local string) *exprScope {
	return &exprScope{Blueprint: l.m.Name, State: state, File: l.pf.file, Src: l.pf.src, Local: local, Program: l.prog, ScriptFailed: l.scriptFailed, MaxSteps: l.o.MaxSteps}
}

func (l *loader) decode(root *yaml.Node) {
	m := &Machine{File: l.pf.file, index: map[string]*State{}, Sources: map[string][]byte{l.pf.file: l.pf.src}}
	l.m = m
	top := map[string]*yaml.Node{}
	topKey := map[string]*yaml.Node{}
	for _, kv := range l.pairs(root, "the blueprint", topKeys) {
		top[kv[0].Value] = kv[1]
		topKey[kv[0].Value] = kv[0]
	}
	if root.Kind != yaml.MappingNode {
		return
	}
	for _, req := range []string{"name", "start", "states"} {
		if top[req] == nil && !l.wasSuggested(root, req) {
			l.diags = append(l.diags, RuleMissingKey.at(Pos{File: l.pf.file, Line: root.Line, Col: root.Column}, fmt.Sprintf("missing required key %q", req)))
		}
	}
	if n := top["name"]; n != nil {
		if s, ok := l.str(n, "name"); ok {
			if !nameRE.MatchString(s) {
				l.errf(n, RuleInvalidName, "blueprint name %q must match [a-z0-9_]+", s)
			}
			m.Name = s
			l.pf.namePos = l.pos(n)
		}
	}
	if n := top["description"]; n != nil {
		if s, ok := l.str(n, "description"); ok {
			m.Description = s
		}
	}
	if n := top["endpoint"]; n != nil {
		if s, ok := l.str(n, "endpoint"); ok {
			if !endpointRE.MatchString(s) || strings.Contains(s, "//") || strings.Contains(s, "..") {
				l.errf(n, RuleInvalidEndpoint, "endpoint %q must be a path starting with /", s)
			}
			m.Endpoint = s
			l.pf.endpointPos = l.pos(n)
		}
	}
	if n := top["input"]; n != nil {
		m.Input = l.schema(n, "input")
	}
	if n := top["script"]; n != nil {
		if s, ok := l.str(n, "script"); ok {
			p, ok := confine(path.Dir(l.pf.file), s)
			if !ok || !strings.HasSuffix(p, ".star") {
				l.scriptFailed = true
				l.errf(n, RuleInvalidScript, "script %q must be a .star file inside the blueprints folder", s)
			} else {
				prog, ds := compileScript(l.fsys, p, l.o.MaxSteps)
				for i := range ds {
					if ds[i].Rule == RuleMissingScript.Name && ds[i].Pos.File == p && ds[i].Pos.Line == 0 {
						ds[i].Pos = l.pos(n)
						ds[i].Message = fmt.Sprintf("script %q not found beside the blueprint", s)
					}
				}
				l.add(ds)
				l.scriptFailed = prog == nil
				if prog != nil {
					l.prog = prog
					m.program = prog
					for k, v := range prog.Sources {
						m.Sources[k] = v
					}
				}
			}
		}
	}
	if n := top["stores"]; n != nil {
		m.Stores = map[string]map[string]any{}
		for _, kv := range l.pairs(n, "stores", nil) {
			v := deref(kv[1])
			if v.Kind != yaml.MappingNode && v.ShortTag() != "!!null" {
				l.errf(v, RuleWrongType, "store %q must be a mapping of initial values, not %s", kv[0].Value, kindName(v))
				continue
			}
			var val any
			if err := v.Decode(&val); err != nil {
				l.errf(v, RuleWrongType, "store %q: %v", kv[0].Value, err)
				continue
			}
			mv, _ := FromJSON(jsonify(val)).(map[string]any)
			if mv == nil {
				mv = map[string]any{}
			}
			m.Stores[kv[0].Value] = mv
		}
	}
	if n := top["defaults"]; n != nil {
		l.defaults(n)
	}
	if n := top["schedule"]; n != nil {
		l.schedules(n)
	}
	// Every state first, so that transitions can be checked.
	var stateNodes [][2]*yaml.Node
	if n := top["states"]; n != nil {
		stateNodes = l.pairs(n, "states", nil)
		if n.Kind == yaml.MappingNode && len(n.Content) == 0 {
			l.errf(n, RuleMissingKey, "states is empty")
		}
		for _, kv := range stateNodes {
			st := &State{Name: kv[0].Value, Pos: l.pos(kv[0])}
			m.States = append(m.States, st)
			m.index[st.Name] = st
		}
		l.opaque = map[string]bool{}
		for i, kv := range stateNodes {
			l.state(m.States[i], kv[1])
		}
	}
	if n := top["start"]; n != nil {
		if s, ok := l.str(n, "start"); ok {
			m.Start = s
			if m.index[s] == nil && top["states"] != nil && top["states"].Kind == yaml.MappingNode {
				d := unknownStateDiag(m, l.pos(n), s, "start")
				l.errf(n, RuleUnknownState, "%s", d.Message)
			}
		}
	}
	if len(m.States) > 0 {
		l.add(checkGraph(m, l.opaque))
	}
	m.Hash = hashSources(m.Sources)
}

func (l *loader) defaults(n *yaml.Node) {
	d := &l.m.Defaults
	for _, kv := range l.pairs(n, "defaults", defaultKey) {
		k, v := kv[0].Value, kv[1]
		switch k {
		case "timeout":
			d.Timeout = l.duration(v, "defaults.timeout")
		case "dispatch_timeout":
			d.DispatchTimeout = l.duration(v, "defaults.dispatch_timeout")
		case "retries":
			if r, ok := l.retries(v, "defaults.retries"); ok {
				d.Retries = &r
			}
		case "retry_backoff":
			l.backoff(v, "defaults.retry_backoff", &d.Backoff)
		case "priority":
			if p, ok := l.number(v, "defaults.priority"); ok {
				d.Priority = &p
			}
		case "strategy":
			d.Strategy = l.strategy(v)
		}
	}
}

// ParseDuration reads a blueprint duration: Go's syntax (300ms, 30s, 5m,
// 1h30m) plus d for days (2d, 1d12h). A bare number is seconds.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, errors.New("negative duration")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		if n, err := strconv.Atoi(s[:i]); err == nil && n >= 0 {
			days = time.Duration(n) * 24 * time.Hour
			s = s[i+1:]
			if s == "" {
				return days, nil
			}
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("want a duration such as 30s, 5m, 24h or 2d")
	}
	if d < 0 {
		return 0, errors.New("negative duration")
	}
	return days + d, nil
}

func (l *loader) duration(n *yaml.Node, what string) time.Duration {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" || n.ShortTag() == "!!bool" {
		l.errf(n, RuleBadDuration, "%s must be a duration such as 30s, 5m, 24h or 2d, not %s", what, kindName(n))
		return 0
	}
	d, err := ParseDuration(n.Value)
	if err != nil {
		l.errf(n, RuleBadDuration, "%s: bad duration %q: %v", what, n.Value, err)
		return 0
	}
	return d
}

func (l *loader) number(n *yaml.Node, what string) (float64, bool) {
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if err == nil {
			return f, true
		}
		var g float64
		if n.Decode(&g) == nil {
			return g, true
		}
	}
	l.errf(n, RuleWrongType, "%s must be a number, not %s", what, kindName(n))
	return 0, false
}

func (l *loader) retries(n *yaml.Node, what string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int" {
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 32)
		if err == nil && i >= 0 && i <= 1000 {
			return int(i), true
		}
		l.errf(n, RuleWrongType, "%s must be an integer from 0 to 1000, not %s", what, n.Value)
		return 0, false
	}
	l.errf(n, RuleWrongType, "%s must be a non-negative integer, not %s", what, kindName(n))
	return 0, false
}

// backoff reads `{base: DURATION, max: DURATION}` over b: a key it names
// replaces b's value, so a task's base keeps the defaults' max.
func (l *loader) backoff(n *yaml.Node, what string, b *Backoff) {
	for _, kv := range l.pairs(n, what, []string{"base", "max"}) {
		k, v := kv[0].Value, kv[1]
		before := len(l.diags)
		d := l.duration(v, what+"."+k)
		if d <= 0 {
			if len(l.diags) == before {
				l.errf(v, RuleBadDuration, "%s.%s must be longer than zero", what, k)
			}
			continue
		}
		if k == "base" {
			b.Base = d
		} else {
			b.Max = d
		}
	}
	if b.Base > 0 && b.Max > 0 && b.Base > b.Max {
		l.errf(n, RuleBadDuration, "%s: base %s is longer than max %s", what, b.Base, b.Max)
	}
}

func (l *loader) strategy(n *yaml.Node) string {
	s, ok := l.str(n, "strategy")
	if !ok {
		return ""
	}
	if !contains(Strategies, s) {
		msg := fmt.Sprintf("unknown strategy %q", s)
		if near := spell.Nearest(s, Strategies); near != "" {
			msg += fmt.Sprintf("; did you mean %q?", near)
		}
		l.errf(n, RuleUnknownStrategy, "%s; valid strategies: %s", msg, strings.Join(Strategies, ", "))
		return ""
	}
	return s
}

func (l *loader) schema(n *yaml.Node, what string) *Schema {
	var v any
	if err := n.Decode(&v); err != nil {
		l.errf(n, RuleInvalidSchema, "%s: %v", what, err)
		return nil
	}
	s, err := CompileSchema(jsonify(v))
	if err != nil {
		l.errf(n, RuleInvalidSchema, "%s is not a valid JSON Schema: %s", what, firstCause(err))
		return nil
	}
	return s
}

// jsonify turns YAML-decoded values into JSON values (map keys as strings).
func jsonify(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonify(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonify(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = jsonify(e)
		}
		return x
	case int:
		return int64(x)
	case uint64:
		return float64(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

func hashSources(src map[string][]byte) string {
	keys := make([]string, 0, len(src))
	for k := range src {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(src[k]))
		h.Write(src[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// mapFS serves sources from memory.
type mapFS map[string][]byte

func (m mapFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

func (m mapFS) ReadFile(name string) ([]byte, error) {
	b, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: name, Err: fs.ErrNotExist}
	}
	return b, nil
}

// firstCause shortens a nested multi-line error (as jsonschema gives) to
// its first most deeply nested line: "at '/type': value must be ...".
func firstCause(err error) string {
	lines := strings.Split(err.Error(), "\n")
	best, depth := strings.TrimSpace(lines[0]), -1
	for _, line := range lines[1:] {
		text := strings.TrimLeft(line, " ")
		if !strings.HasPrefix(text, "- ") {
			continue
		}
		if d := len(line) - len(text); d > depth {
			best, depth = strings.TrimPrefix(text, "- "), d
		}
	}
	return best
}
