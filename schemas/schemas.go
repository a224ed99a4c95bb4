// Package schemas embeds the project's JSON Schemas: the blueprint file
// format (for the linter and for editors through yaml-language-server).
package schemas

import _ "embed"

// Blueprint is the JSON Schema of a blueprint YAML file.
//
//go:embed blueprint.schema.json
var Blueprint []byte

// BlueprintURL is the schema's $id.
const BlueprintURL = "https://avtomatika.dev/schemas/blueprint.schema.json"

// BlueprintTest is the JSON Schema of a blueprint test file
// (NAME_test.yaml), for editors.
//
//go:embed blueprint-test.schema.json
var BlueprintTest []byte

// BlueprintTestURL is the test schema's $id.
const BlueprintTestURL = "https://avtomatika.dev/schemas/blueprint-test.schema.json"
