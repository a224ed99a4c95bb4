package lang

import (
	"context"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// ActionKind names the one action of a state.
type ActionKind string

const (
	ActionGoTo      ActionKind = "go_to"
	ActionChoose    ActionKind = "choose"
	ActionTask      ActionKind = "task"
	ActionParallel  ActionKind = "parallel"
	ActionApproval  ActionKind = "approval"
	ActionBlueprint ActionKind = "blueprint"
	ActionWait      ActionKind = "wait"
	ActionEnd       ActionKind = "end"
)

// Outcome of an end state.
type Outcome string

const (
	OutcomeSuccess Outcome = "success"
	OutcomeFailure Outcome = "failure"
)

// Strategies a task may name for picking a worker.
var Strategies = wire.Strategies()

// Machine is a compiled blueprint: immutable once built and shared by every
// job that runs it. Its Hash (hex SHA-256 over the sources it was built
// from) names the version; a job keeps the hash it started with.
type Machine struct {
	Name        string
	Description string
	Endpoint    string // client path under /api/v1, "" when none
	Hash        string
	File        string // path of the YAML file, relative to the blueprints folder, '/'-separated
	Start       string
	States      []*State // in file order
	Defaults    TaskDefaults
	// Stores holds the initial values of the blueprint's named stores.
	Stores map[string]map[string]any
	// Input validates initial_data; nil when the blueprint has no input schema.
	Input *Schema
	// Sources are the exact bytes the machine was compiled from, keyed by
	// path relative to the blueprints folder (the YAML, its script and every
	// loaded module), so any instance can rebuild this version by hash.
	Sources map[string][]byte
	// Schedules start jobs of the blueprint by themselves (schedule:).
	Schedules []*Schedule

	index   map[string]*State
	program *program // compiled script module and expression cache; nil without script
}

// State returns the named state, or nil.
func (m *Machine) State(name string) *State { return m.index[name] }

// TaskDefaults apply to every task of a blueprint that leaves them unset.
type TaskDefaults struct {
	Timeout         time.Duration
	DispatchTimeout time.Duration
	Retries         *int
	Backoff         Backoff // retry_backoff
	Priority        *float64
	Strategy        string
}

// Backoff bounds the delay before a retry: the bound starts at Base and
// doubles with each attempt up to Max, and the delay is drawn at random
// below it. A zero field takes the blueprint's default, then the
// runtime's (1 s and 60 s).
type Backoff struct {
	Base time.Duration
	Max  time.Duration
}

// State is one node of the machine. Set and Store run before the action,
// in that order and in file order within each.
type State struct {
	Name   string
	Pos    Pos // of the state's key
	Action ActionKind

	Set   []Assign
	Store []StoreWrite

	GoTo      string // go_to, and the state after wait
	GoToPos   Pos    // of the go_to value
	Choose    []Choice
	Task      *Task
	Parallel  *Parallel
	Approval  *Approval
	Blueprint *SubBlueprint
	Wait      *Wait
	End       Outcome

	// Transitions map a status (task status, approval decision, child
	// outcome) to the next state, in file order.
	Transitions []Transition
}

// Next returns the state the status leads to.
func (s *State) Next(status string) (string, bool) {
	for _, t := range s.Transitions {
		if t.Status == status {
			return t.Target, true
		}
	}
	return "", false
}

// Transition is one `STATUS: STATE` entry.
type Transition struct {
	Status string
	Target string
	Pos    Pos // of the target value
}

// Assign writes one value into the job's history.
type Assign struct {
	Key   string
	Value *Value
	Pos   Pos
}

// StoreWrite writes one key of a named store: `store: {STORE: {KEY: VALUE}}`.
type StoreWrite struct {
	Store string
	Key   *Value // a template; most keys are literal
	Value *Value
	Pos   Pos
}

// Choice is one entry of `choose`; When is nil for the default entry.
type Choice struct {
	When    *Expr
	GoTo    string
	Pos     Pos
	GoToPos Pos // of the go_to value
}

// Task describes one unit of work handed to a worker. Durations and numbers
// left unset in the file take the blueprint's defaults at compile time and
// stay zero (nil) when neither sets them; the runtime then applies its own.
type Task struct {
	Type            string
	Params          *Value // evaluates to a JSON object, or nil
	Priority        float64
	Timeout         time.Duration // result deadline of one attempt
	DispatchTimeout time.Duration // how long it may wait for a worker
	Retries         *int          // further attempts after a TRANSIENT_ERROR; nil: the runtime's default
	Backoff         Backoff       // retry_backoff; zero fields: the runtime's
	Strategy        string        // one of Strategies; "" means default
	MaxCost         *float64
	Requires        map[string]any // resource requirements, JSON values
	OutputSchema    *Schema
	Pos             Pos
}

// Parallel runs either a fixed list of tasks or one task per item.
type Parallel struct {
	Tasks   []*Task
	ForEach *Value // evaluates to a list
	As      string
	Task    *Task
}

// Approval waits for a human decision.
type Approval struct {
	Message *Value
	Timeout time.Duration // zero: no timeout
}

// SubBlueprint runs another blueprint as a child job.
type SubBlueprint struct {
	Name  string
	Input *Value
}

// Wait pauses the job for a duration or until a time, then goes to GoTo.
type Wait struct {
	Duration time.Duration
	Until    *Value // evaluates to an RFC 3339 string or Unix seconds
}

// Env is what an expression sees. Values are JSON values as decoded by
// this package: map[string]any, []any, string, bool, nil, int64 for
// integral numbers and float64 for the rest.
type Env struct {
	Input   any
	History map[string]any
	Result  any   // {status, data, error} of the last task, or nil
	Results []any // branch results after parallel, in order
	Job     JobInfo
	Client  map[string]any            // name, plan and the client's fields
	Stores  map[string]map[string]any // current values, read-only
	Locals  map[string]any            // the for_each name, inside a parallel task
}

// JobInfo is the `job` name in expressions.
type JobInfo struct {
	ID        string
	Blueprint string
	State     string
	Attempt   int
	CreatedAt time.Time
}

// Value is a compiled YAML value whose strings may hold ${{ EXPR }}
// templates. A string that is exactly one template evaluates to the
// expression's own type; longer strings format values into the text.
type Value struct {
	Pos  Pos
	node valueNode
}

// Expr is a compiled Starlark expression (a `when:`).
type Expr struct {
	Src string
	Pos Pos
	ex  *compiledExpr
}

// Eval evaluates the value in env. Errors are *EvalError.
func (v *Value) Eval(ctx context.Context, env *Env) (any, error) {
	if v == nil {
		return nil, nil
	}
	return v.node.eval(ctx, env)
}

// Eval evaluates the expression in env and returns its JSON value.
func (e *Expr) Eval(ctx context.Context, env *Env) (any, error) { return e.ex.eval(ctx, env) }

// Truth evaluates the expression in env and returns its Starlark truth.
func (e *Expr) Truth(ctx context.Context, env *Env) (bool, error) { return e.ex.truth(ctx, env) }

// EvalError is an expression that failed at run time: which blueprint,
// state and expression, where in the file, and why.
type EvalError struct {
	Blueprint string
	State     string
	Expr      string
	Pos       Pos
	Msg       string
	Err       error // the cause, for errors.Is: context.Canceled, ErrStepLimit, ...
}

func (e *EvalError) Error() string {
	return "blueprint " + quote(e.Blueprint) + ", state " + quote(e.State) + ": " + e.Pos.String() + ": evaluate `" + e.Expr + "`: " + e.Msg
}

// Unwrap returns the cause.
func (e *EvalError) Unwrap() error { return e.Err }

func quote(s string) string { return "\"" + s + "\"" }
