package lang

// RuleDescription is a one-line description of a lint rule, for reports
// such as SARIF that list the rules they use.
func RuleDescription(rule string) string {
	switch rule {
	case "action-count":
		return "a state has exactly one action"
	case "bad-duration":
		return "durations are Go durations such as 30s or 1h30m"
	case "duplicate-endpoint":
		return "two blueprints share an API endpoint"
	case "duplicate-key":
		return "a mapping names a key twice"
	case "duplicate-name":
		return "two blueprints share a name"
	case "end-with-transitions":
		return "an end state has no transitions"
	case "internal-error":
		return "the linter failed on this input"
	case "invalid-endpoint":
		return "an API endpoint is a path starting with /"
	case "invalid-name":
		return "names are identifiers"
	case "invalid-schema":
		return "an input or output schema is a valid JSON Schema"
	case "invalid-script":
		return "a script name is a .star file in the blueprints folder"
	case "load-outside-folder":
		return "load() stays inside the blueprints folder"
	case "missing-key":
		return "a required key is missing"
	case "missing-script":
		return "a referenced script file exists"
	case "missing-transitions":
		return "a state that can finish has transitions"
	case "no-end-state":
		return "a blueprint has at least one end state"
	case "no-path-to-end":
		return "every state can reach an end state"
	case "schema":
		return "the blueprint matches the blueprint JSON Schema"
	case "script-error":
		return "a script runs without error when loaded"
	case "starlark-syntax":
		return "expressions and scripts are valid Starlark"
	case "unclosed-template":
		return "every ${{ is closed by }}"
	case "undefined-name":
		return "expressions use only defined names"
	case "unknown-blueprint":
		return "a sub-blueprint names a blueprint in the folder"
	case "unknown-function":
		return "an expression calls a function the script defines"
	case "unknown-key":
		return "a mapping has only known keys"
	case "unknown-state":
		return "transitions and go_to name states of the blueprint"
	case "unknown-status":
		return "transitions use statuses the action can produce"
	case "unknown-store":
		return "a store names a configured store"
	case "unknown-strategy":
		return "a dispatch strategy is one the dispatcher knows"
	case "unreachable-choice":
		return "no choice follows the default choice"
	case "unreachable-state":
		return "every state is reachable from the start"
	case "unreadable":
		return "blueprint files can be read"
	case "unused-transitions":
		return "a state has no transitions its action ignores"
	case "wrong-type":
		return "a value has the type the key wants"
	case "yaml-syntax":
		return "the file is valid YAML"
	}
	return "blueprint rule " + rule
}
