package schemas

import (
	"bytes"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestBlueprintSchemaCompiles checks the embedded schema against its
// meta-schema and its $id against BlueprintURL.
func TestBlueprintSchemaCompiles(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(Blueprint))
	if err != nil {
		t.Fatal(err)
	}
	m, ok := doc.(map[string]any)
	if !ok || m["$id"] != BlueprintURL {
		t.Fatalf("$id = %v, want %s", m["$id"], BlueprintURL)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(BlueprintURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(BlueprintURL)
	if err != nil {
		t.Fatal(err)
	}
	ok1 := map[string]any{"name": "a", "start": "s", "states": map[string]any{"s": map[string]any{"end": "success"}}}
	if err := s.Validate(ok1); err != nil {
		t.Errorf("minimal blueprint refused: %v", err)
	}
	if err := s.Validate(map[string]any{"name": "a", "states": "x"}); err == nil {
		t.Error("states as a string accepted")
	}
}
