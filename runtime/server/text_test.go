package server

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheckText: checkText never panics, and what it lets through decodes
// to the text that was sent: no replacement character appears that the
// body did not spell.
func FuzzCheckText(f *testing.F) {
	for _, s := range []string{
		`{"a": "b"}`, `{"a": "\ud800"}`, `{"a": ["x", "\udc00y"]}`, `{"\ud83d\ude00": 1}`,
		"{\"a\": \"\xff\"}", `{"a": "\ud83d\ude00"}`, `{"a": "\ufffd"}`, `[1, "\\", "\u00e9"]`,
		`{"a": {"b": [{"c": "\ud800\u0041"}]}}`, `"\ud800`, `{"a": "\u12"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := checkText(b)
		if err != nil || !json.Valid(b) {
			return
		}
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		spelled := bytes.Contains(b, []byte("\xef\xbf\xbd")) || bytes.Contains(bytes.ToLower(b), []byte(`\ufffd`))
		if !spelled && hasReplacement(v) {
			t.Fatalf("checkText let %q through, which decodes with U+FFFD", b)
		}
	})
}

func hasReplacement(v any) bool {
	switch v := v.(type) {
	case string:
		return strings.ContainsRune(v, utf8.RuneError)
	case []any:
		for _, e := range v {
			if hasReplacement(e) {
				return true
			}
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, utf8.RuneError) || hasReplacement(e) {
				return true
			}
		}
	}
	return false
}
