package lang

import (
	"fmt"
	"sort"
)

// Rule is one lint rule. Name is stable and kebab-case: it is what a
// finding carries (Diagnostic.Rule), what an ignore comment or the lint
// configuration names, and the id SARIF reports. Summary says in one line
// what the rule wants; Help says more, for reports that show it. Severity
// is how bad a finding of the rule is unless the configuration says
// otherwise. Suppressible is set when a blueprint with a finding of the
// rule still compiles to a machine that runs as written, so the lint
// configuration (LintConfigFile) may ignore the rule or make it a warning.
type Rule struct {
	Name         string
	Summary      string
	Help         string
	Severity     Severity
	Suppressible bool
}

// String returns the rule's name.
func (r *Rule) String() string { return r.Name }

// at returns a finding of the rule at pos.
func (r *Rule) at(pos Pos, msg string) Diagnostic {
	return Diagnostic{Pos: pos, Severity: r.Severity, Rule: r.Name, Message: msg}
}

// atf is at with a formatted message.
func (r *Rule) atf(pos Pos, format string, args ...any) Diagnostic {
	return r.at(pos, fmt.Sprintf(format, args...))
}

// The rules, one variable each; every finding names one of them.
var (
	RuleActionCount = &Rule{Name: "action-count", Summary: "a state has exactly one action",
		Help: "A state does one thing: task, parallel, approval, blueprint, choose, go_to, wait (or until) with go_to, or end. Split a state that does two into two states."}
	RuleBadSchedule = &Rule{Name: "bad-schedule", Summary: "a schedule has one valid trigger, time zone and policies",
		Help: "schedule: takes cron (five fields, or six with seconds first, or @daily and the like) or every (a duration), an IANA timezone, input, overlap (skip, queue or allow) and catch_up (none, latest or a number)."}
	RuleBadDuration = &Rule{Name: "bad-duration", Summary: "durations are Go durations such as 30s or 1h30m",
		Help: "A duration is a number of seconds or Go's syntax (300ms, 30s, 5m, 1h30m), plus d for days (2d, 1d12h)."}
	RuleDuplicateEndpoint = &Rule{Name: "duplicate-endpoint", Summary: "two blueprints share an API endpoint",
		Help: "Each endpoint starts one blueprint; give every blueprint of the folder its own."}
	RuleDuplicateKey = &Rule{Name: "duplicate-key", Summary: "a mapping names a key twice",
		Help: "YAML would keep only one of the values; the second key is ignored."}
	RuleDuplicateName = &Rule{Name: "duplicate-name", Summary: "two blueprints share a name",
		Help: "Jobs and sub-blueprints find a blueprint by its name, so names are unique within the folder."}
	RuleEndWithTransitions = &Rule{Name: "end-with-transitions", Summary: "an end state has no transitions",
		Help: "An end state finishes the job; it never leaves, so transitions there are never taken.", Suppressible: true}
	RuleInternalError = &Rule{Name: "internal-error", Summary: "the linter failed on this input",
		Help: "A bug in the linter, reported at the node it was reading; please report it with the input."}
	RuleInvalidEndpoint = &Rule{Name: "invalid-endpoint", Summary: "an API endpoint is a path starting with /",
		Help: "An endpoint is a path such as /orders; it may hold letters, digits, _ - . / { } and no // or .."}
	RuleInvalidName = &Rule{Name: "invalid-name", Summary: "names are identifiers",
		Help: "A blueprint name matches [a-z0-9_]+; the name of a parallel item (as) is an identifier not used by the scope."}
	RuleInvalidSchema = &Rule{Name: "invalid-schema", Summary: "an input or output schema is a valid JSON Schema",
		Help: "input and output_schema are JSON Schemas written in YAML; the message gives the first reason the schema is not valid."}
	RuleInvalidScript = &Rule{Name: "invalid-script", Summary: "a script name is a .star file in the blueprints folder",
		Help: "script names a .star file relative to the blueprint, inside the blueprints folder."}
	RuleLintConfig = &Rule{Name: "lint-config", Summary: "the lint configuration and ignore comments name rules that may be ignored",
		Help: "The folder's .avtomatika-lint.yaml and # avtomatika:ignore comments name declared rules; only rules whose findings leave a runnable blueprint may be ignored or made warnings."}
	RuleLoadOutsideFolder = &Rule{Name: "load-outside-folder", Summary: "load() stays inside the blueprints folder",
		Help: "A script loads modules by paths relative to itself that stay inside the blueprints folder."}
	RuleMissingKey = &Rule{Name: "missing-key", Summary: "a required key is missing",
		Help: "A blueprint needs name, start and states; a task needs a type; go_to, as and the like complete their action."}
	RuleMissingScript = &Rule{Name: "missing-script", Summary: "a referenced script file exists",
		Help: "The script a blueprint names, and every module it loads, must exist in the blueprints folder."}
	RuleMissingTransitions = &Rule{Name: "missing-transitions", Summary: "a state that can finish has transitions",
		Help: "task, parallel, approval and blueprint states finish with a status; transitions say where each status leads."}
	RuleMultipleDocuments = &Rule{Name: "multiple-documents", Summary: "a file holds one YAML document (one blueprint)",
		Help: "A second document after --- would be ignored; put each blueprint in a file of its own.", Suppressible: true}
	RuleNoEndState = &Rule{Name: "no-end-state", Summary: "a blueprint has at least one end state",
		Help: "Without an end state (end: success or end: failure) no job of the blueprint can finish.", Suppressible: true}
	RuleNoPathToEnd = &Rule{Name: "no-path-to-end", Summary: "every state can reach an end state",
		Help: "A job that enters this state can never finish: no chain of transitions leads from it to an end state.", Suppressible: true}
	RuleSchema = &Rule{Name: "schema", Summary: "the blueprint matches the blueprint JSON Schema",
		Help: "schemas/blueprint.schema.json backs the linter up; its findings show only where the linter's own rules found nothing.", Suppressible: true}
	RuleScriptError = &Rule{Name: "script-error", Summary: "a script runs without error when loaded",
		Help: "A script's top level runs once when the blueprint loads; it must finish without error within the step limit."}
	RuleStarlarkSyntax = &Rule{Name: "starlark-syntax", Summary: "expressions and scripts are valid Starlark",
		Help: "Conditions, ${{ }} templates and .star scripts are Starlark; the finding points at the token the parser stopped at."}
	RuleUnclosedTemplate = &Rule{Name: "unclosed-template", Summary: "every ${{ is closed by }}",
		Help: "A template opened with ${{ ends with }} in the same scalar."}
	RuleUndefinedName = &Rule{Name: "undefined-name", Summary: "expressions use only defined names",
		Help: "Expressions see input, history, context, the stores, Starlark's built-ins, json and the script's globals."}
	RuleUnknownBlueprint = &Rule{Name: "unknown-blueprint", Summary: "a sub-blueprint names a blueprint in the folder",
		Help: "A blueprint state runs another blueprint of the same folder, by name."}
	RuleUnknownFunction = &Rule{Name: "unknown-function", Summary: "an expression calls a function the script defines",
		Help: "A call is to a Starlark built-in or to a function of the blueprint's script."}
	RuleUnknownKey = &Rule{Name: "unknown-key", Summary: "a mapping has only known keys",
		Help: "A key the blueprint language does not know is most often a misspelt one; the finding suggests the nearest."}
	RuleUnknownState = &Rule{Name: "unknown-state", Summary: "transitions and go_to name states of the blueprint",
		Help: "start, go_to, choose entries and transitions name states declared under states."}
	RuleUnknownStatus = &Rule{Name: "unknown-status", Summary: "transitions use statuses the action can produce",
		Help: "parallel and blueprint finish with success or failure; approval with approved, rejected or timeout."}
	RuleUnknownStore = &Rule{Name: "unknown-store", Summary: "a store names a configured store",
		Help: "A state writes only to stores declared under the blueprint's stores."}
	RuleUnknownStrategy = &Rule{Name: "unknown-strategy", Summary: "a dispatch strategy is one the dispatcher knows",
		Help: "Strategies: best_value, cheapest, default, least_connections, round_robin."}
	RuleUnreachableChoice = &Rule{Name: "unreachable-choice", Summary: "no choice follows the default choice",
		Help: "choose takes the first entry whose when holds; the entry without when always holds, so entries after it are never taken.", Suppressible: true}
	RuleUnreachableState = &Rule{Name: "unreachable-state", Summary: "every state is reachable from the start",
		Help: "No chain of go_to, choose and transitions leads from start to this state, so no job ever enters it.", Suppressible: true}
	RuleUnreadable = &Rule{Name: "unreadable", Summary: "blueprint files can be read",
		Help: "A file or folder could not be read; the message gives the reason."}
	RuleUnusedTransitions = &Rule{Name: "unused-transitions", Summary: "a state has no transitions its action ignores",
		Help: "go_to, wait and choose leave by their own go_to; transitions there are never taken.", Suppressible: true}
	RuleWrongType = &Rule{Name: "wrong-type", Summary: "a value has the type the key wants",
		Help: "The message names the type the key wants and the type found."}
	RuleYAMLSyntax = &Rule{Name: "yaml-syntax", Summary: "the file is valid YAML",
		Help: "The file does not parse as YAML; the finding points at the line the parser names, which is most often where the mistake is."}
)

// rules lists every rule, sorted by name.
var rules = []*Rule{
	RuleActionCount, RuleBadDuration, RuleBadSchedule, RuleDuplicateEndpoint, RuleDuplicateKey,
	RuleDuplicateName, RuleEndWithTransitions, RuleInternalError, RuleInvalidEndpoint,
	RuleInvalidName, RuleInvalidSchema, RuleInvalidScript, RuleLintConfig,
	RuleLoadOutsideFolder, RuleMissingKey, RuleMissingScript, RuleMissingTransitions,
	RuleMultipleDocuments, RuleNoEndState, RuleNoPathToEnd, RuleSchema,
	RuleScriptError, RuleStarlarkSyntax, RuleUnclosedTemplate, RuleUndefinedName,
	RuleUnknownBlueprint, RuleUnknownFunction, RuleUnknownKey, RuleUnknownState,
	RuleUnknownStatus, RuleUnknownStore, RuleUnknownStrategy, RuleUnreachableChoice,
	RuleUnreachableState, RuleUnreadable, RuleUnusedTransitions, RuleWrongType,
	RuleYAMLSyntax,
}

// Rules returns every lint rule, sorted by name.
func Rules() []*Rule { return append([]*Rule(nil), rules...) }

// LookupRule returns the rule of that name, or nil.
func LookupRule(name string) *Rule {
	i := sort.Search(len(rules), func(i int) bool { return rules[i].Name >= name })
	if i < len(rules) && rules[i].Name == name {
		return rules[i]
	}
	return nil
}

// RuleDescription is the one-line summary of a rule, for reports such as
// SARIF that list the rules they use.
func RuleDescription(rule string) string {
	if r := LookupRule(rule); r != nil {
		return r.Summary
	}
	return "blueprint rule " + rule
}
