package lang

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
	"gopkg.in/yaml.v3"

	"github.com/avtomatika-ai/avtomatika-go/schemas"
)

// Schema is a compiled JSON Schema (input and output_schema).
type Schema struct {
	// Raw is the schema as written, as a JSON value.
	Raw any
	s   *jsonschema.Schema
}

// SchemaError lists every reason a value failed a schema.
type SchemaError struct {
	Reasons []SchemaReason
}

// SchemaReason is one failed constraint: where in the value (a JSON
// pointer) and what.
type SchemaReason struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

func (e *SchemaError) Error() string {
	parts := make([]string, len(e.Reasons))
	for i, r := range e.Reasons {
		at := r.Pointer
		if at == "" {
			at = "/"
		}
		parts[i] = at + ": " + r.Message
	}
	return strings.Join(parts, "; ")
}

// CompileSchema compiles a JSON Schema given as a JSON value.
func CompileSchema(raw any) (*Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	doc, err := roundTrip(raw)
	if err != nil {
		return nil, err
	}
	if err := c.AddResource("inline.json", doc); err != nil {
		return nil, err
	}
	s, err := c.Compile("inline.json")
	if err != nil {
		msg := err.Error()
		var se *jsonschema.SchemaValidationError
		if errors.As(err, &se) && se.Err != nil {
			msg = se.Err.Error()
		}
		return nil, errors.New(strings.ReplaceAll(msg, "file://inline.json", ""))
	}
	return &Schema{Raw: raw, s: s}, nil
}

// roundTrip turns a value into the plain JSON form the validator reads.
func roundTrip(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// Validate checks v; the error is a *SchemaError listing every reason.
func (s *Schema) Validate(v any) error {
	if s == nil || s.s == nil {
		return nil
	}
	doc, err := roundTrip(v)
	if err != nil {
		return &SchemaError{Reasons: []SchemaReason{{Message: err.Error()}}}
	}
	err = s.s.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &SchemaError{Reasons: []SchemaReason{{Message: err.Error()}}}
	}
	return &SchemaError{Reasons: leaves(ve)}
}

var printer = message.NewPrinter(language.English)

func leaves(ve *jsonschema.ValidationError) []SchemaReason {
	var out []SchemaReason
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, SchemaReason{Pointer: pointer(e.InstanceLocation), Message: e.ErrorKind.LocalizedString(printer)})
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Pointer < out[j].Pointer })
	return out
}

func pointer(loc []string) string {
	var b strings.Builder
	for _, p := range loc {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(p, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

var blueprintSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.Blueprint))
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(schemas.BlueprintURL, doc); err != nil {
		return nil, err
	}
	return c.Compile(schemas.BlueprintURL)
})

// schemaCheck validates the file against schemas/blueprint.schema.json.
// Its findings back up the loader's own checks: one is reported only
// where the loader found nothing on the same line.
func (l *loader) schemaCheck(root *yaml.Node) Diagnostics {
	sch, err := blueprintSchema()
	if err != nil {
		return Diagnostics{RuleInternalError.at(Pos{File: l.pf.file, Line: 1, Col: 1}, "blueprint schema: "+err.Error())}
	}
	doc := yamlToJSON(root, 0)
	err = sch.Validate(doc)
	var ve *jsonschema.ValidationError
	if err == nil || !errors.As(err, &ve) {
		return nil
	}
	covered := map[int]bool{}
	for _, d := range l.diags {
		if d.Pos.File == l.pf.file {
			covered[d.Pos.Line] = true
		}
	}
	var ds Diagnostics
	for _, r := range leaves(ve) {
		n := nodeAtPointer(root, r.Pointer)
		if covered[n.Line] {
			continue
		}
		at := r.Pointer
		if at == "" {
			at = "/"
		}
		ds = append(ds, RuleSchema.at(nodePos(l.pf.file, n), fmt.Sprintf("blueprint schema at %s: %s", at, r.Message)))
	}
	return ds
}

// yamlToJSON converts a node tree into JSON values for the validator.
func yamlToJSON(n *yaml.Node, depth int) any {
	n = deref(n)
	if n == nil || depth > 200 {
		return nil
	}
	switch n.Kind {
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			m[n.Content[i].Value] = yamlToJSON(n.Content[i+1], depth+1)
		}
		return m
	case yaml.SequenceNode:
		out := make([]any, len(n.Content))
		for i, c := range n.Content {
			out[i] = yamlToJSON(c, depth+1)
		}
		return out
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return nil
		case "!!bool":
			var b bool
			_ = n.Decode(&b)
			return b
		case "!!int", "!!float":
			if f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64); err == nil {
				return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
			}
			var f float64
			if n.Decode(&f) == nil {
				return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
			}
		}
		return n.Value
	}
	return nil
}

// nodeAtPointer finds the node a JSON pointer names (the closest one).
func nodeAtPointer(root *yaml.Node, ptr string) *yaml.Node {
	n := deref(root)
	if ptr == "" {
		return n
	}
	for _, part := range strings.Split(ptr[1:], "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		var next *yaml.Node
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == part {
					next = deref(n.Content[i+1])
					break
				}
			}
		case yaml.SequenceNode:
			if i, err := strconv.Atoi(part); err == nil && i >= 0 && i < len(n.Content) {
				next = deref(n.Content[i])
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}
