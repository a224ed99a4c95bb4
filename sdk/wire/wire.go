package wire

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Headers, routes and literals of the worker protocol (PROTOCOL.md §3, §7).
const (
	HeaderWorkerToken = "X-Worker-Token"
	HeaderWorkerID    = "X-Worker-ID"
	HeaderVersion     = "X-RXON-Version"
	HeaderClientToken = "X-Client-Token"

	// Version is the protocol version we speak.
	Version = "1.0b16"

	RouteRegister  = "/_worker/workers/register"
	RouteResult    = "/_worker/tasks/result"
	RouteEvents    = "/_worker/events"
	RouteWorkerFmt = "/_worker/workers/%s"            // PATCH heartbeat
	RouteNextFmt   = "/_worker/workers/%s/tasks/next" // GET long poll
	RouteWSFmt     = "/_worker/ws/%s"
	RouteToken     = "/_worker/auth/token"
	RouteRefresh   = "/_worker/auth/token/refresh"
	RouteStatus    = "/_public/status"

	CommandCancelTask = "cancel_task"
	EventProgress     = "progress"

	// Statuses of replies.
	ReplyRegistered    = "registered"
	ReplyOK            = "ok"
	ReplyTTLRefreshed  = "ttl_refreshed"
	ReplyAccepted      = "accepted"
	ReplyIgnored       = "ignored"
	ReplyEventAccepted = "event_accepted"

	// Transitions of an accepted result.
	TransitionSuccess          = "success_transition"
	TransitionFailureHandled   = "failure_handled"
	TransitionCancelledHandled = "cancelled_handled"
	TransitionUnhandledStatus  = "unhandled_status_failure"
	TransitionParallelBranch   = "parallel_branch_accepted"

	// Reasons of an ignored result.
	ReasonJobNotFound       = "job_not_found"
	ReasonWorkerMismatch    = "worker_mismatch"
	ReasonStaleTask         = "stale_task"
	ReasonDeadlineExceeded  = "deadline_exceeded"
	ReasonJobCancelled      = "job_cancelled"
	ReasonAlreadyTerminated = "job_already_terminated"
)

// RouteWorker is the heartbeat path of worker id (PATCH).
func RouteWorker(id string) string { return "/_worker/workers/" + id }

// RouteNext is the long-poll path of worker id (GET).
func RouteNext(id string) string { return "/_worker/workers/" + id + "/tasks/next" }

// RouteWS is the WebSocket path of worker id.
func RouteWS(id string) string { return "/_worker/ws/" + id }

// Timestamp is Unix seconds. It reads an integer or a float (the Python
// SDK sends floats) and always writes an integer.
type Timestamp int64

// Now is the current time as a Timestamp.
func Now() Timestamp { return Timestamp(time.Now().Unix()) }

func (t Timestamp) MarshalJSON() ([]byte, error) { return strconv.AppendInt(nil, int64(t), 10), nil }

func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("timestamp %s: want Unix seconds", b)
	}
	*t = Timestamp(int64(f))
	return nil
}

// Security is the signature block of a signed message.
type Security struct {
	Signature string `json:"signature,omitempty"`
	SignerID  string `json:"signer_id,omitempty"`
}

// SkillInfo describes one task type a worker runs.
type SkillInfo struct {
	Name           string                    `json:"name"`
	Type           string                    `json:"type,omitempty"`
	Description    string                    `json:"description,omitempty"`
	Version        string                    `json:"version,omitempty"`
	InputSchema    map[string]any            `json:"input_schema,omitempty"`
	OutputSchema   map[string]any            `json:"output_schema,omitempty"`
	EventsSchema   map[string]map[string]any `json:"events_schema,omitempty"`
	OutputStatuses []string                  `json:"output_statuses,omitempty"`
	SchemaDialect  string                    `json:"schema_dialect,omitempty"`
	Properties     map[string]any            `json:"properties,omitempty"`
}

// HardwareDevice is one device of a worker's resources.
type HardwareDevice struct {
	Type       string         `json:"type"`
	Model      string         `json:"model,omitempty"`
	ID         string         `json:"id,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
	Metrics    map[string]any `json:"metrics,omitempty"`
}

// Resources of a worker. rxon sends devices and properties; the Python
// SDK 1.0b13 sent max_concurrent_tasks, cpu_cores and ram_gb at the top:
// both are read.
type Resources struct {
	Devices            []HardwareDevice `json:"devices,omitempty"`
	Properties         map[string]any   `json:"properties,omitempty"`
	MaxConcurrentTasks int              `json:"max_concurrent_tasks,omitempty"`
	CPUCores           float64          `json:"cpu_cores,omitempty"`
	RAMGB              float64          `json:"ram_gb,omitempty"`
}

// Artifact is one installed artifact of a worker.
type Artifact struct {
	Name       string         `json:"name"`
	Version    string         `json:"version,omitempty"`
	Type       string         `json:"type,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// Capabilities of a worker; websockets may come at the top or under extra.
type Capabilities struct {
	Hostname     string             `json:"hostname,omitempty"`
	IPAddress    string             `json:"ip_address,omitempty"`
	CostPerSkill map[string]float64 `json:"cost_per_skill,omitempty"`
	S3ConfigHash string             `json:"s3_config_hash,omitempty"`
	Websockets   *bool              `json:"websockets,omitempty"`
	Extra        map[string]any     `json:"extra,omitempty"`
}

// WebSockets reports whether the worker asked for a socket, by either name.
func (c Capabilities) WebSockets() bool {
	if c.Websockets != nil {
		return *c.Websockets
	}
	b, _ := c.Extra["websockets"].(bool)
	return b
}

// Registration is POST /_worker/workers/register.
type Registration struct {
	WorkerID           string            `json:"worker_id"`
	WorkerType         string            `json:"worker_type,omitempty"`
	SupportedSkills    []SkillInfo       `json:"supported_skills,omitempty"`
	AvailableSkills    []string          `json:"available_skills,omitempty"`
	HotSkills          Names             `json:"hot_skills,omitempty"`
	Resources          map[string]any    `json:"resources,omitempty"` // see Resources for the members
	InstalledSoftware  map[string]string `json:"installed_software,omitempty"`
	InstalledArtifacts []Artifact        `json:"installed_artifacts,omitempty"`
	Capabilities       Capabilities      `json:"capabilities"`
	SkillsHash         string            `json:"skills_hash,omitempty"`
	Metadata           map[string]any    `json:"metadata,omitempty"`
	Timestamp          Timestamp         `json:"timestamp"`
	Security           *Security         `json:"security,omitempty"`
}

// WorkerRegistration is the rxon name of Registration.
type WorkerRegistration = Registration

// RegisterReply answers a registration. A reply carrying an access token
// (STS) hands the worker a token to use from then on.
type RegisterReply struct {
	Status       string `json:"status"`
	Version      string `json:"version,omitempty"`
	Warning      string `json:"warning,omitempty"`
	AccessToken  string `json:"access_token,omitempty"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in,omitempty"`
}

// DeviceUsage is the load of one device in a heartbeat.
type DeviceUsage struct {
	UnitID      string         `json:"unit_id"`
	LoadPercent float64        `json:"load_percent"`
	Metrics     map[string]any `json:"metrics,omitempty"`
}

// Usage is the load a heartbeat reports.
type Usage struct {
	CPULoadPercent float64       `json:"cpu_load_percent"`
	RAMUsedGB      float64       `json:"ram_used_gb"`
	DevicesUsage   []DeviceUsage `json:"devices_usage,omitempty"`
}

// Heartbeat is PATCH /_worker/workers/{id}.
type Heartbeat struct {
	WorkerID        string         `json:"worker_id"`
	Status          WorkerStatus   `json:"status"`
	Usage           map[string]any `json:"usage,omitempty"` // see Usage for the members
	CurrentTasks    []string       `json:"current_tasks"`
	SupportedSkills []SkillInfo    `json:"supported_skills,omitempty"`
	AvailableSkills []string       `json:"available_skills,omitempty"`
	HotSkills       Names          `json:"hot_skills,omitempty"`
	SkillsHash      string         `json:"skills_hash,omitempty"`
	Metadata        map[string]any `json:"metadata,omitempty"`
	Timestamp       Timestamp      `json:"timestamp"`
	Security        *Security      `json:"security,omitempty"`
}

// HeartbeatReply answers a heartbeat.
type HeartbeatReply struct {
	Status                string   `json:"status"`
	RequireFullSync       bool     `json:"require_full_sync,omitempty"`
	CancelTaskIDs         []string `json:"cancel_task_ids,omitempty"`
	NextHeartbeatJitterMS int      `json:"next_heartbeat_jitter_ms,omitempty"`
}

// FileMetadata describes an offloaded payload.
type FileMetadata struct {
	URI      string         `json:"uri"`
	Size     int64          `json:"size"`
	ETag     string         `json:"etag,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// Task is what a long poll returns.
type Task struct {
	JobID          string                  `json:"job_id"`
	TaskID         string                  `json:"task_id"`
	Type           string                  `json:"type"`
	Params         map[string]any          `json:"params,omitempty"`
	TracingContext map[string]any          `json:"tracing_context,omitempty"`
	ParamsMetadata map[string]FileMetadata `json:"params_metadata,omitempty"`
	Priority       float64                 `json:"priority"`
	Deadline       Timestamp               `json:"deadline,omitempty"`
	Security       json.RawMessage         `json:"security,omitempty"`
	Metadata       map[string]any          `json:"metadata,omitempty"`
	Timestamp      Timestamp               `json:"timestamp,omitempty"`
}

// TaskPayload is the rxon name of Task.
type TaskPayload = Task

// Error is the error object: of a failed result (Code is one of the
// Code… task codes, or another a worker chose) and of a job that ended
// badly (the job view's "error").
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// Result is POST /_worker/tasks/result. Status is one of the Result…
// statuses or a custom one a transition names; a missing status means
// success.
type Result struct {
	JobID          string                  `json:"job_id"`
	TaskID         string                  `json:"task_id"`
	WorkerID       string                  `json:"worker_id,omitempty"`
	OriginWorkerID string                  `json:"origin_worker_id,omitempty"`
	Status         string                  `json:"status,omitempty"`
	Data           map[string]any          `json:"data,omitempty"`
	Error          *Error                  `json:"error,omitempty"`
	DataMetadata   map[string]FileMetadata `json:"data_metadata,omitempty"`
	Metadata       map[string]any          `json:"metadata,omitempty"`
	Costs          map[string]any          `json:"costs,omitempty"`
	Timestamp      Timestamp               `json:"timestamp"`
	Security       *Security               `json:"security,omitempty"`
	// TracingContext is the W3C trace context of the worker's span of the
	// task ({"traceparent": ...}), as the task's tracing_context was.
	TracingContext map[string]any `json:"tracing_context,omitempty"`
}

// TaskResult is the rxon name of Result.
type TaskResult = Result

// ResultReply answers a result: accepted with a transition, or ignored
// with a reason (final: the worker must not send it again).
type ResultReply struct {
	Status     string `json:"status"`
	Transition string `json:"transition,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Message    string `json:"message,omitempty"`
}

// Event is POST /_worker/events (and a worker's WebSocket message).
type Event struct {
	EventID        string         `json:"event_id,omitempty"`
	WorkerID       string         `json:"worker_id"`
	OriginWorkerID string         `json:"origin_worker_id,omitempty"`
	EventType      string         `json:"event_type"`
	Payload        map[string]any `json:"payload"`
	OriginTaskID   string         `json:"origin_task_id,omitempty"`
	BubblingChain  []string       `json:"bubbling_chain,omitempty"`
	TargetJobID    string         `json:"target_job_id,omitempty"`
	TargetTaskID   string         `json:"target_task_id,omitempty"`
	TraceContext   map[string]any `json:"trace_context,omitempty"`
	Priority       float64        `json:"priority,omitempty"`
	Metadata       map[string]any `json:"metadata,omitempty"`
	Timestamp      Timestamp      `json:"timestamp"`
	Security       *Security      `json:"security,omitempty"`
}

// WorkerEvent is the rxon name of Event.
type WorkerEvent = Event

// EventReply answers an event.
type EventReply struct {
	Status  string `json:"status"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

// Command is what the server pushes over the WebSocket, e.g.
// {"command":"cancel_task","task_id":…,"job_id":…}.
type Command struct {
	Command  string         `json:"command"`
	TaskID   string         `json:"task_id,omitempty"`
	JobID    string         `json:"job_id,omitempty"`
	Params   map[string]any `json:"params,omitempty"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// TokenResponse is the STS reply of /_worker/auth/token (§3.10).
type TokenResponse struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	ExpiresIn    int    `json:"expires_in,omitempty"`
	WorkerID     string `json:"worker_id,omitempty"`
}

// ErrorReply is an error body: the Go orchestrator sends
// {"error":{"code","message","details"}}, the Python one {"error":"text"}.
type ErrorReply struct {
	Code    string
	Message string
}

// UnmarshalJSON reads both error body shapes.
func (e *ErrorReply) UnmarshalJSON(b []byte) error {
	var v struct {
		Error json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	var s string
	if json.Unmarshal(v.Error, &s) == nil {
		e.Message = s
		return nil
	}
	var o struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(v.Error, &o); err != nil {
		return fmt.Errorf("error body: %w", err)
	}
	e.Code, e.Message = o.Code, o.Message
	return nil
}
