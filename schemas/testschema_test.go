package schemas

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// The test-file schema compiles and accepts every example test file.
func TestBlueprintTestSchemaAcceptsExamples(t *testing.T) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(BlueprintTest))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(BlueprintTestURL, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(BlueprintTestURL)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("..", "blueprints", "*_test.yaml"))
	if len(files) == 0 {
		t.Fatal("no example test files")
	}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := yaml.Unmarshal(src, &v); err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(jsonish(v)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if err := s.Validate(map[string]any{"cases": map[string]any{"a": map[string]any{"replys": map[string]any{}}}}); err == nil {
		t.Error("an unknown key is accepted")
	}
}

// jsonish turns YAML values into what a JSON decoder gives.
func jsonish(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonish(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = jsonish(e)
		}
		return x
	case int:
		return float64(x)
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}
