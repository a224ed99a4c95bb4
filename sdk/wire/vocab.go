package wire

import "slices"

// JobStatus is a job's status as the client API reports it (the "status"
// of GET /api/v1/jobs/{id}, of a webhook and of a WebSocket push).
type JobStatus string

// Job statuses. A job starts pending, moves among the waiting statuses
// while it runs, and ends in one of the terminal ones; a terminal status
// never changes again.
const (
	// StatusPending: the job is created and has not taken its first step.
	StatusPending JobStatus = "pending"
	// StatusRunning: the job entered a state and waits on nothing yet.
	StatusRunning JobStatus = "running"
	// StatusWaitingForWorker: a task is queued or leased; the job moves on
	// when its result arrives, its lease expires or no worker takes it
	// before its dispatch timeout.
	StatusWaitingForWorker JobStatus = "waiting_for_worker"
	// StatusWaitingForHuman: an approval state waits for a decision.
	StatusWaitingForHuman JobStatus = "waiting_for_human"
	// StatusWaitingParallel: the branches of a parallel state run; the job
	// moves on when all succeeded or one failed for good.
	StatusWaitingParallel JobStatus = "waiting_for_parallel_tasks"
	// StatusWaitingForChild: a child job runs; its end moves the parent on.
	StatusWaitingForChild JobStatus = "waiting_for_child"
	// StatusWaiting: a wait state's timer runs.
	StatusWaiting JobStatus = "waiting"
	// StatusAwaitingRetry: a task failed with a retryable code and its next
	// attempt is due when the retry backoff ends.
	StatusAwaitingRetry JobStatus = "awaiting_retry"

	// StatusFinished (terminal): the job reached a success end state.
	StatusFinished JobStatus = "finished"
	// StatusFailed (terminal): a failure end state, a task that failed for
	// good without a failure transition, invalid input, a dispatch
	// timeout, an unhandled status or an expression error.
	StatusFailed JobStatus = "failed"
	// StatusCancelled (terminal): cancelled by its client, its parent or a
	// worker's cancelled result without a cancelled transition.
	StatusCancelled JobStatus = "cancelled"
	// StatusQuarantined (terminal): a task failed with a code that needs
	// a human (permanent, security, dependency, contract violation).
	StatusQuarantined JobStatus = "quarantined"
	// StatusError (terminal) is a status of the Python orchestrator that
	// no code path of it sets; this orchestrator never sets it either, but
	// a client reads it as an end.
	StatusError JobStatus = "error"
)

// Terminal reports whether a job in this status has ended.
func (s JobStatus) Terminal() bool {
	switch s {
	case StatusFinished, StatusFailed, StatusCancelled, StatusQuarantined, StatusError:
		return true
	}
	return false
}

// Succeeded reports whether the job ended well.
func (s JobStatus) Succeeded() bool { return s == StatusFinished }

// Statuses of a task's result (the "status" of POST /_worker/tasks/result).
// A blueprint may name other statuses in a task's transitions; a worker
// sends them as they are.
const (
	// ResultSuccess: the task did its work; the job takes the state's
	// success transition with the result's data merged into its history.
	// A result without a status is a success.
	ResultSuccess = "success"
	// ResultFailure: the task failed; the result's error code decides
	// whether it is retried, fails the job or quarantines it.
	ResultFailure = "failure"
	// ResultCancelled: the worker cancelled the task; the job takes the
	// state's cancelled transition, else it is cancelled.
	ResultCancelled = "cancelled"
)

// WorkerStatus is a worker's status: what its heartbeat reports and what
// dispatch reads from its record.
type WorkerStatus string

// Worker statuses.
const (
	// WorkerIdle: the worker takes tasks.
	WorkerIdle WorkerStatus = "idle"
	// WorkerBusy: the worker runs at capacity; dispatch picks no task for it.
	WorkerBusy WorkerStatus = "busy"
	// WorkerOffline: the worker leaves; a heartbeat with it removes the
	// worker's record.
	WorkerOffline WorkerStatus = "offline"
	// WorkerActive is a status of the rxon library; read as idle.
	WorkerActive WorkerStatus = "active"
	// WorkerDraining: the worker finishes what it runs and takes nothing new.
	WorkerDraining WorkerStatus = "draining"
)

// Error codes a worker's result may carry in error.code, grouped by their
// effect on the job. A failure without a code, or with a code not listed
// here, is retried like CodeTransientError.
const (
	// CodeTransientError: a passing failure (network, overload). Retried
	// with backoff up to the task's retries; then the state's failure
	// transition is taken, else the job fails.
	CodeTransientError = "TRANSIENT_ERROR"
	// CodeTimeoutError: the task ran out of time; also set by the
	// orchestrator when a lease expires without a result. Retried.
	CodeTimeoutError = "TIMEOUT_ERROR"
	// CodeResourceExhaustedError: the worker lacked memory, disk or a
	// device. Retried.
	CodeResourceExhaustedError = "RESOURCE_EXHAUSTED_ERROR"
	// CodeLimitExceededError: a rate or quota of a service the task uses
	// was exceeded. Retried.
	CodeLimitExceededError = "LIMIT_EXCEEDED_ERROR"
	// CodeDependencyMissingError: something the task needs is not there
	// yet. Retried.
	CodeDependencyMissingError = "DEPENDENCY_MISSING_ERROR"
	// CodeInternalError: the worker itself failed (a handler panicked).
	// Retried.
	CodeInternalError = "INTERNAL_ERROR"
	// CodeLateResult: the result came too late to be used. Retried.
	CodeLateResult = "LATE_RESULT"

	// CodeInvalidInputError: the task's params cannot be worked on; a
	// retry would fail the same way. Not retried: the state's failure
	// transition is taken, else the job fails.
	CodeInvalidInputError = "INVALID_INPUT_ERROR"
	// CodeIntegrityMismatchError: data did not match its checksum or
	// shape. Not retried, as CodeInvalidInputError.
	CodeIntegrityMismatchError = "INTEGRITY_MISMATCH_ERROR"

	// CodePermanentError: the task can never succeed. The job is
	// quarantined.
	CodePermanentError = "PERMANENT_ERROR"
	// CodeSecurityError: the worker refused the task on security grounds.
	// The job is quarantined.
	CodeSecurityError = "SECURITY_ERROR"
	// CodeDependencyError: a service the task needs answered wrongly.
	// The job is quarantined.
	CodeDependencyError = "DEPENDENCY_ERROR"
	// CodeContractViolationError: the worker's output broke its skill's
	// output schema. The job is quarantined.
	CodeContractViolationError = "CONTRACT_VIOLATION_ERROR"
)

// Error codes the orchestrator sets on a job it fails or cancels itself
// (the job view's error.code), besides the task codes above, which a job
// failed by its task carries.
const (
	// CodeExpressionError: an expression failed or gave the wrong type.
	CodeExpressionError = "EXPRESSION_ERROR"
	// CodeNoChoice: a choose state matched no entry and has no default.
	CodeNoChoice = "NO_CHOICE"
	// CodeUnhandledStatus: a result's status names no transition of the
	// state (a parallel branch succeeds with "success" only).
	CodeUnhandledStatus = "UNHANDLED_STATUS"
	// CodeTransitionLimit: the job entered more states than its limit.
	CodeTransitionLimit = "TRANSITION_LIMIT"
	// CodeUnknownState: the blueprint has no such state.
	CodeUnknownState = "UNKNOWN_STATE"
	// CodeDispatchTimeout: no worker took a task within its dispatch
	// timeout; not retried.
	CodeDispatchTimeout = "DISPATCH_TIMEOUT"
	// CodeApprovalTimeout: an approval timed out and names no timeout
	// transition.
	CodeApprovalTimeout = "APPROVAL_TIMEOUT"
	// CodeChildFailed: a child job failed and the state names no failure
	// transition.
	CodeChildFailed = "CHILD_FAILED"
	// CodeEndFailure: the job reached an `end: failure` state.
	CodeEndFailure = "END_FAILURE"
	// CodeCancelled: cancelled by the client, the parent or the worker.
	CodeCancelled = "CANCELLED"
)

// Dispatch strategies a blueprint's task may name (dispatch_strategy) for
// picking a worker among those that fit it.
const (
	// StrategyDefault: hot workers first, then the cheapest, then the best
	// reputation. An empty strategy is the default.
	StrategyDefault = "default"
	// StrategyRoundRobin: the workers in turn, by a counter per task type.
	StrategyRoundRobin = "round_robin"
	// StrategyLeastConnections: the worker with the fewest tasks leased
	// or queued for it.
	StrategyLeastConnections = "least_connections"
	// StrategyCheapest: the lowest cost for the task's type.
	StrategyCheapest = "cheapest"
	// StrategyBestValue: the lowest cost divided by reputation.
	StrategyBestValue = "best_value"
)

// Strategies returns the dispatch strategy names, sorted.
func Strategies() []string {
	return slices.Clone(strategies[:])
}

var strategies = [...]string{StrategyBestValue, StrategyCheapest, StrategyDefault, StrategyLeastConnections, StrategyRoundRobin}

// Events of a job's webhook and WebSocket push, sent when it ends.
const (
	WebhookJobFinished    = "job_finished"    // it finished
	WebhookJobFailed      = "job_failed"      // it failed (a dispatch timeout included)
	WebhookJobQuarantined = "job_quarantined" // it was quarantined
	WebhookJobCancelled   = "job_cancelled"   // it was cancelled
)

// Codes of the error object of a refused request ({"error": {"code",
// "message", "details"}}), on the client API and the worker protocol alike.
const (
	CodeBadRequestBody       = "bad_body"               // the body could not be read (400)
	CodeBodyTooLarge         = "body_too_large"         // the body is over the size limit (413)
	CodeInternal             = "internal"               // the server failed; logged there, never detailed (500)
	CodeInvalidDecision      = "invalid_decision"       // an approval decision other than approved or rejected (400)
	CodeInvalidEvent         = "invalid_event"          // a worker event without event_type (400)
	CodeInvalidField         = "invalid_field"          // a member has a bad value, named in the message (400)
	CodeInvalidInput         = "invalid_input"          // initial_data is not an object or breaks the input schema (400)
	CodeInvalidJSON          = "invalid_json"           // the body is not the JSON wanted, where is in the message (400)
	CodeInvalidQuery         = "invalid_query"          // a query parameter has a bad value (400)
	CodeInvalidRegistration  = "invalid_registration"   // a registration without worker_id (400)
	CodeInvalidResult        = "invalid_result"         // a result without job_id or task_id, or data not an object (400)
	CodeInvalidWorkerID      = "invalid_worker_id"      // a worker id outside 1 to 128 of [a-zA-Z0-9_-] (400)
	CodeNotFound             = "not_found"              // no such route, job, blueprint or worker; another client's job too (404)
	CodeNotWaiting           = "not_waiting"            // an approval for a job that waits for none (409)
	CodeQuotaExceeded        = "quota_exceeded"         // the client used its monthly job creations (429)
	CodeShuttingDown         = "shutting_down"          // the instance drains; retry on another (503)
	CodeUnauthorized         = "unauthorized"           // a missing, unknown or wrong token or signature (401, 403)
	CodeUnsupportedMediaType = "unsupported_media_type" // a Content-Type other than JSON (415)
	CodeNotLeaseHolder       = "not_lease_holder"       // a worker event for a task or job it holds no lease in (403)
	CodeReplayed             = "replayed"               // a signed worker message seen before (403)
	CodeIdempotencyConflict  = "idempotency_conflict"   // an Idempotency-Key reused with another request (422)
	CodeRateLimited          = "rate_limited"           // over the request rate; Retry-After says when (429)
	CodeBusy                 = "busy"                   // a bounded table of the server is full; retry later (503)
)
