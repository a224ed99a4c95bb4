package lang

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// LintConfigFile is the lint configuration a blueprints folder may hold at
// its top:
//
//	ignore: [unreachable-state]     # rules whose findings are dropped
//	severity:                       # rules whose findings change severity
//	  no-path-to-end: warning
//
// Only rules whose findings leave a machine that runs (Rule.Suppressible)
// may be ignored or made warnings; any rule may be made an error. A
// comment "# avtomatika:ignore RULE[, RULE...]" at the end of a line, or
// alone on the line above it, drops that line's findings of those rules.
// Runtimes and the linter read the configuration alike, so a folder lint
// passes is a folder a runtime loads.
const LintConfigFile = ".avtomatika-lint.yaml"

// lintConfig is a folder's lint configuration, read from LintConfigFile.
type lintConfig struct {
	ignore   map[string]bool
	severity map[string]Severity
	// diags are the configuration's own findings.
	diags Diagnostics
}

// readLintConfig reads the folder's configuration; a missing file is an
// empty configuration.
func readLintConfig(fsys fs.FS) *lintConfig {
	c := &lintConfig{ignore: map[string]bool{}, severity: map[string]Severity{}}
	if _, err := fs.Stat(fsys, LintConfigFile); errors.Is(err, fs.ErrNotExist) {
		return c
	}
	src, err := fs.ReadFile(fsys, LintConfigFile)
	if err != nil {
		c.diags = append(c.diags, RuleUnreadable.at(Pos{File: LintConfigFile}, fmt.Sprintf("cannot read: %v", errors.Unwrap(err))))
		return c
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		c.diags = append(c.diags, yamlError(LintConfigFile, src, err))
		return c
	}
	if len(doc.Content) == 0 {
		return c
	}
	at := func(n *yaml.Node) Pos { return nodePos(LintConfigFile, n) }
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		c.diags = append(c.diags, RuleLintConfig.atf(at(root), "the lint configuration must be a mapping with ignore and severity, not %s", kindName(root)))
		return c
	}
	keys := []string{"ignore", "severity"}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], deref(root.Content[i+1])
		switch k.Value {
		case "ignore":
			if v.Kind != yaml.SequenceNode {
				c.diags = append(c.diags, RuleLintConfig.atf(at(v), "ignore must be a list of rule names, not %s", kindName(v)))
				continue
			}
			for _, n := range v.Content {
				if r, d, ok := configRule(at(n), n.Value); !ok {
					c.diags = append(c.diags, d)
				} else if !r.Suppressible {
					c.diags = append(c.diags, RuleLintConfig.atf(at(n), "rule %q cannot be ignored: a blueprint with such a finding does not run", r.Name))
				} else {
					c.ignore[r.Name] = true
				}
			}
		case "severity":
			if v.Kind != yaml.MappingNode {
				c.diags = append(c.diags, RuleLintConfig.atf(at(v), "severity must be a mapping of rule names to error or warning, not %s", kindName(v)))
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				rn, sv := v.Content[j], deref(v.Content[j+1])
				r, d, ok := configRule(at(rn), rn.Value)
				if !ok {
					c.diags = append(c.diags, d)
					continue
				}
				switch sv.Value {
				case "error":
					c.severity[r.Name] = SeverityError
				case "warning":
					if !r.Suppressible {
						c.diags = append(c.diags, RuleLintConfig.atf(at(sv), "rule %q cannot be a warning: a blueprint with such a finding does not run", r.Name))
						continue
					}
					c.severity[r.Name] = SeverityWarning
				default:
					c.diags = append(c.diags, RuleLintConfig.atf(at(sv), "severity of %q must be error or warning, not %q%s", r.Name, sv.Value, didYouMean(sv.Value, []string{"error", "warning"})))
				}
			}
		default:
			c.diags = append(c.diags, RuleLintConfig.atf(at(k), "unknown key %q in the lint configuration%s; valid keys: %s", k.Value, didYouMean(k.Value, keys), strings.Join(keys, ", ")))
		}
	}
	return c
}

// configRule finds a rule named in the configuration or a comment, or
// returns the finding that it does not exist.
func configRule(pos Pos, name string) (*Rule, Diagnostic, bool) {
	if r := LookupRule(name); r != nil {
		return r, Diagnostic{}, true
	}
	names := make([]string, len(rules))
	for i, r := range rules {
		names[i] = r.Name
	}
	return nil, RuleLintConfig.atf(pos, "unknown rule %q%s", name, didYouMean(name, names)), false
}

var ignoreRE = regexp.MustCompile(`#\s*avtomatika:ignore\b(.*)$`)

// ignores are the ignore comments of one file: line -> rules.
type ignores map[int]map[string]bool

// fileIgnores reads the ignore comments of a file: a comment at the end
// of a line covers that line; a comment alone on its line covers the next.
func fileIgnores(file string, src []byte) (ignores, Diagnostics) {
	out := ignores{}
	var ds Diagnostics
	if !strings.Contains(string(src), "avtomatika:ignore") {
		return out, nil
	}
	for i, line := range strings.Split(string(src), "\n") {
		m := ignoreRE.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		target := i + 1
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			target = i + 2
		}
		list := line[m[2]:m[3]]
		col := len([]rune(line[:m[2]])) + 1
		if strings.TrimSpace(list) == "" {
			ds = append(ds, RuleLintConfig.at(Pos{File: file, Line: i + 1, Col: len([]rune(line[:m[0]])) + 1}, "avtomatika:ignore names no rule; write # avtomatika:ignore RULE[, RULE...]"))
			continue
		}
		for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\r' }) {
			at := Pos{File: file, Line: i + 1, Col: col + len([]rune(list[:strings.Index(list, f)]))}
			r, d, ok := configRule(at, f)
			switch {
			case !ok:
				ds = append(ds, d)
			case !r.Suppressible:
				ds = append(ds, RuleLintConfig.atf(at, "rule %q cannot be ignored: a blueprint with such a finding does not run", r.Name))
			default:
				if out[target] == nil {
					out[target] = map[string]bool{}
				}
				out[target][r.Name] = true
			}
		}
	}
	return out, ds
}

// apply drops and re-grades findings as the configuration and the ignore
// comments of their files say, and adds findings about those comments.
// source returns a file's bytes (nil when unknown); scan names files whose
// comments are checked even when they have no findings.
func (c *lintConfig) apply(ds Diagnostics, source func(string) []byte, scan ...string) Diagnostics {
	byFile := map[string]ignores{}
	var extra Diagnostics
	read := func(file string) ignores {
		ig, ok := byFile[file]
		if !ok {
			var more Diagnostics
			ig, more = fileIgnores(file, source(file))
			extra = append(extra, more...)
			byFile[file] = ig
		}
		return ig
	}
	for _, f := range scan {
		read(f)
	}
	out := ds[:0:0]
	for _, d := range ds {
		if r := LookupRule(d.Rule); r != nil && r.Suppressible {
			if c.ignore[d.Rule] || d.Pos.Line > 0 && read(d.Pos.File)[d.Pos.Line][d.Rule] {
				continue
			}
		}
		if s, ok := c.severity[d.Rule]; ok {
			d.Severity = s
		}
		out = append(out, d)
	}
	return append(out, extra...)
}
