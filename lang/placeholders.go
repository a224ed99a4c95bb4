package lang

// Placeholders until the loader lands; its author replaces them.

// Schema is a compiled JSON Schema.
type Schema struct{ Raw any }
