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

	StatusSuccess   = "success"
	StatusFailure   = "failure"
	StatusCancelled = "cancelled"

	CommandCancelTask = "cancel_task"
	EventProgress     = "progress"
)

// Error codes a result may carry.
const (
	ErrTransient         = "TRANSIENT_ERROR"
	ErrPermanent         = "PERMANENT_ERROR"
	ErrInvalidInput      = "INVALID_INPUT_ERROR"
	ErrTimeout           = "TIMEOUT_ERROR"
	ErrSecurity          = "SECURITY_ERROR"
	ErrContractViolation = "CONTRACT_VIOLATION_ERROR"
	ErrIntegrityMismatch = "INTEGRITY_MISMATCH_ERROR"
	ErrInternal          = "INTERNAL_ERROR"
)

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
	Name           string         `json:"name"`
	Type           string         `json:"type,omitempty"`
	Description    string         `json:"description,omitempty"`
	Version        string         `json:"version,omitempty"`
	InputSchema    map[string]any `json:"input_schema,omitempty"`
	OutputSchema   map[string]any `json:"output_schema,omitempty"`
	OutputStatuses []string       `json:"output_statuses,omitempty"`
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
	WorkerID          string            `json:"worker_id"`
	WorkerType        string            `json:"worker_type,omitempty"`
	SupportedSkills   []SkillInfo       `json:"supported_skills,omitempty"`
	AvailableSkills   []string          `json:"available_skills,omitempty"`
	Resources         map[string]any    `json:"resources,omitempty"`
	InstalledSoftware map[string]string `json:"installed_software,omitempty"`
	Capabilities      Capabilities      `json:"capabilities"`
	SkillsHash        string            `json:"skills_hash,omitempty"`
	Metadata          map[string]any    `json:"metadata,omitempty"`
	Timestamp         Timestamp         `json:"timestamp"`
	Security          *Security         `json:"security,omitempty"`
}

// Heartbeat is PATCH /_worker/workers/{id}.
type Heartbeat struct {
	WorkerID     string         `json:"worker_id"`
	Status       string         `json:"status"` // idle, busy, offline
	Usage        map[string]any `json:"usage,omitempty"`
	CurrentTasks []string       `json:"current_tasks"`
	SkillsHash   string         `json:"skills_hash,omitempty"`
	Timestamp    Timestamp      `json:"timestamp"`
	Security     *Security      `json:"security,omitempty"`
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

// Error is the error object of a failed result.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Details any    `json:"details,omitempty"`
}

// Result is POST /_worker/tasks/result.
type Result struct {
	JobID          string                  `json:"job_id"`
	TaskID         string                  `json:"task_id"`
	WorkerID       string                  `json:"worker_id,omitempty"`
	OriginWorkerID string                  `json:"origin_worker_id,omitempty"`
	Status         string                  `json:"status"`
	Data           map[string]any          `json:"data,omitempty"`
	Error          *Error                  `json:"error,omitempty"`
	DataMetadata   map[string]FileMetadata `json:"data_metadata,omitempty"`
	Metadata       map[string]any          `json:"metadata,omitempty"`
	Timestamp      Timestamp               `json:"timestamp"`
	Security       *Security               `json:"security,omitempty"`
}

// ResultReply answers a result: accepted with a transition, or ignored
// with a reason (final: the worker must not send it again).
type ResultReply struct {
	Status     string `json:"status"`
	Transition string `json:"transition,omitempty"`
	Reason     string `json:"reason,omitempty"`
	Message    string `json:"message,omitempty"`
}

// Event is POST /_worker/events.
type Event struct {
	EventID      string         `json:"event_id,omitempty"`
	WorkerID     string         `json:"worker_id"`
	EventType    string         `json:"event_type"`
	Payload      map[string]any `json:"payload"`
	OriginTaskID string         `json:"origin_task_id,omitempty"`
	TargetJobID  string         `json:"target_job_id,omitempty"`
	Timestamp    Timestamp      `json:"timestamp"`
	Security     *Security      `json:"security,omitempty"`
}

// Command is what the server pushes over the WebSocket.
type Command struct {
	Command string         `json:"command"`
	TaskID  string         `json:"task_id,omitempty"`
	JobID   string         `json:"job_id,omitempty"`
	Params  map[string]any `json:"params,omitempty"`
}
