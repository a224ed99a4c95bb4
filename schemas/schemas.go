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
