// Package lang reads blueprint folders (YAML state machines with Starlark
// expressions) into immutable, versioned machines, and reports every
// mistake in them at its file:line:col.
//
// # Phases
//
// A folder goes through four phases, in order; each collects its findings
// and goes on, so one run reports every mistake it can see.
//
// Load reads every *.yaml and *.yml file of the folder (hidden folders
// skipped) and parses it with gopkg.in/yaml.v3 into nodes that keep their
// positions. A file that is not YAML stops here, with one yaml-syntax
// finding at the line the parser names.
//
// Lint walks the nodes: known keys, the types their values want, exactly
// one action per state, durations, strategies, stores. Every ${{ }}
// template, every when and the blueprint's .star script are compiled as
// Starlark while the nodes are at hand, so an undefined name or a syntax
// error points into the scalar that holds it. Names that are close to a
// known one come with a "did you mean". The blueprint JSON Schema
// (schemas/blueprint.schema.json) then backs the linter up: it speaks only
// where the linter's own rules found nothing.
//
// Compile builds the Machine while linting: its states in file order,
// their actions, compiled values and edges, and the hash of the exact
// sources it came from. A file with an error gives no machine; LoadFS
// returns the machines of the other files, and a runtime refuses a folder
// whose findings hold an error.
//
// Graph checks are passes over the compiled machine (check_graph.go): every
// edge names a state, some state ends, every state is reachable from start
// and can reach an end. Each pass reports all it finds; only a state whose
// edges could not be read keeps them quiet. Folder checks follow: names and
// endpoints are unique, sub-blueprints exist. DOT and Mermaid draw the same
// edges.
//
// # Findings and positions
//
// A finding is a Diagnostic: a Pos, a Severity, the name of the Rule it
// breaks and a lower-case message. Every rule is a declared value (see
// Rules) with a summary and help, which the SARIF printer lists. Pos is
// the file relative to the folder with '/' separators, a 1-based line and
// a 1-based column counted in runes, as YAML and Starlark count them; zero
// means unknown, and String prints file:line:col. Positions inside quoted,
// folded and literal scalars are mapped back to the file, so a mistake in
// the third line of a literal block points there. Diagnostics sort by
// file, line, column and rule, and Print writes them as text with the
// source line and a caret, JSON, GitHub annotations or SARIF.
//
// A folder's LintConfigFile, and "# avtomatika:ignore RULE" comments, may
// drop findings of rules that leave a runnable machine or make them
// warnings; LoadFS applies them before a file's errors decide whether its
// machine loads, so the linter and a runtime agree.
//
// # Versions and the registry
//
// A Machine is immutable and shared by every job that runs it; its Hash
// (SHA-256 over its sources: the YAML, its script and every loaded module)
// names the version, and a job keeps the hash it started with. A Registry
// holds the current set by name and endpoint, swapped atomically on a
// reload, and every version ever loaded by hash, so a job started before a
// reload finishes on its own version; Rebuild compiles a version again
// from the sources a machine kept, on any instance.
package lang
