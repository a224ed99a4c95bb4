package lang

import (
	"errors"
	"strings"
	"testing"
)

func TestSchemaValidateEveryReason(t *testing.T) {
	t.Parallel()
	s, err := CompileSchema(map[string]any{
		"type":     "object",
		"required": []any{"item_id", "quantity"},
		"properties": map[string]any{
			"item_id":  map[string]any{"type": "string", "minLength": int64(1)},
			"quantity": map[string]any{"type": "integer", "minimum": int64(1)},
			"a/b~c":    map[string]any{"type": "boolean"},
			"tags":     map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(map[string]any{"item_id": "x", "quantity": int64(2)}); err != nil {
		t.Errorf("valid input refused: %v", err)
	}
	err = s.Validate(map[string]any{"item_id": "", "a/b~c": "yes", "tags": []any{"ok", int64(3)}})
	var se *SchemaError
	if !errors.As(err, &se) {
		t.Fatalf("want a *SchemaError, got %T %v", err, err)
	}
	var got []string
	for _, r := range se.Reasons {
		got = append(got, r.Pointer)
		if r.Message == "" {
			t.Errorf("reason at %q without a message", r.Pointer)
		}
	}
	want := []string{"", "/a~1b~0c", "/item_id", "/tags/1"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pointers = %q, want %q (%v)", got, want, err)
	}
	if !strings.Contains(err.Error(), "quantity") || !strings.Contains(err.Error(), "/tags/1: ") {
		t.Errorf("message does not name every reason: %v", err)
	}
	var nilSchema *Schema
	if err := nilSchema.Validate("anything"); err != nil {
		t.Errorf("a missing schema accepts everything: %v", err)
	}
}

func TestCompileSchemaRefuses(t *testing.T) {
	t.Parallel()
	for _, raw := range []any{
		map[string]any{"type": "objekt"},
		map[string]any{"required": int64(5)},
		map[string]any{"properties": []any{}},
		"not a schema",
	} {
		if _, err := CompileSchema(raw); err == nil {
			t.Errorf("CompileSchema(%v) accepted", raw)
		}
	}
}
