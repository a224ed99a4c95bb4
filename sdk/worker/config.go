package worker

import (
	"go.opentelemetry.io/otel/trace"

	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/dotenv"
	"github.com/avtomatika-ai/avtomatika-go/internal/uuid"
)

// Mode is how a worker spreads its polls over several orchestrators.
type Mode string

const (
	// Failover polls the first reachable orchestrator (in priority order)
	// and moves on when it is unreachable, back when it returns. The
	// Python SDK's WATERFALL is the same.
	Failover Mode = "FAILOVER"
	// RoundRobin spreads polls over every reachable orchestrator by
	// weight (smooth weighted round robin).
	RoundRobin Mode = "ROUND_ROBIN"
)

// Orchestrator is one server a worker talks to.
type Orchestrator struct {
	URL      string `json:"url"`
	Token    string `json:"token,omitempty"`    // "" : the worker's token
	Priority int    `json:"priority,omitempty"` // lower first; default 10
	Weight   int    `json:"weight,omitempty"`   // ROUND_ROBIN share; default 1
}

// S3Config is where payload files go (PROTOCOL.md §4). The worker reads
// it from the environment; the offload itself is the s3offload package,
// named in Config.NewOffload.
type S3Config struct {
	Endpoint  string // S3_ENDPOINT_URL; "" turns offload off
	AccessKey string // S3_ACCESS_KEY
	SecretKey string // S3_SECRET_KEY
	Region    string // S3_REGION, default us-east-1
	Bucket    string // S3_BUCKET or S3_DEFAULT_BUCKET, default avtomatika-payloads
}

// Config configures a worker. The zero value is a worker of
// localhost:8080 with the defaults below. To combine the environment and
// code, read the environment with FromEnv and set fields on the result:
// what code sets wins.
type Config struct {
	WorkerID   string // WORKER_ID, default worker-<uuid4>
	WorkerType string // WORKER_TYPE, default generic-cpu-worker
	// Token is the worker's token: the X-Worker-Token header and the
	// signing secret (WORKER_INDIVIDUAL_TOKEN, else WORKER_TOKEN, else
	// AVTOMATIKA_WORKER_TOKEN).
	Token string
	// Orchestrators: ORCHESTRATORS_CONFIG (a JSON list), else one at
	// ORCHESTRATOR_URL (default http://localhost:8080).
	Orchestrators      []Orchestrator
	Mode               Mode          // MULTI_ORCHESTRATOR_MODE: FAILOVER (default; WATERFALL too) or ROUND_ROBIN
	MaxConcurrentTasks int           // MAX_CONCURRENT_TASKS, default 10
	EnableWebSockets   bool          // WORKER_ENABLE_WEBSOCKETS
	HeartbeatInterval  time.Duration // HEARTBEAT_INTERVAL (seconds), default 15 s
	HeartbeatDebounce  time.Duration // WORKER_HEARTBEAT_DEBOUNCE_DELAY, default 0.1 s
	PollTimeout        time.Duration // TASK_POLL_TIMEOUT, default 30 s
	RetryInitial       time.Duration // REGISTRATION_RETRY_INITIAL_DELAY, default 1 s
	RetryMax           time.Duration // REGISTRATION_RETRY_MAX_DELAY, default 60 s
	ShutdownTimeout    time.Duration // WORKER_SHUTDOWN_TIMEOUT, default 30 s
	PayloadDir         string        // WORKER_PAYLOAD_DIR or TASK_FILES_DIR, default /tmp/payloads
	S3                 S3Config
	// NewOffload makes the payload offload from the configuration, its
	// defaults filled in; s3offload.New is the S3 one. It is required when
	// S3.Endpoint is set, and only then called.
	NewOffload func(Config) (Offload, error)

	Resources         map[string]any     // CPU_CORES, RAM_GB, ... (free form)
	InstalledSoftware map[string]string  // INSTALLED_SOFTWARE (JSON)
	CostPerSkill      map[string]float64 // COST_PER_SKILL (JSON)
	Extra             map[string]any     // WORKER_EXTRA_<NAME>

	HTTPClient *http.Client
	Logger     *slog.Logger
	// TracerProvider records the span each task's handler runs in, child
	// of the task's tracing_context (nil: no span is recorded, and the
	// handler's context still carries the orchestrator's trace context).
	TracerProvider trace.TracerProvider
}

// withDefaults fills what is unset; it fails only when no worker id can
// be drawn.
func (c *Config) withDefaults() error {
	if c.WorkerID == "" {
		id, err := uuid.New(rand.Reader)
		if err != nil {
			return fmt.Errorf("WORKER_ID is unset and no id could be drawn: %w", err)
		}
		c.WorkerID = "worker-" + id
	}
	if c.WorkerType == "" {
		c.WorkerType = "generic-cpu-worker"
	}
	if len(c.Orchestrators) == 0 {
		c.Orchestrators = []Orchestrator{{URL: "http://localhost:8080"}}
	}
	c.Orchestrators = append([]Orchestrator(nil), c.Orchestrators...) // the caller's slice stays as it is
	for i := range c.Orchestrators {
		o := &c.Orchestrators[i]
		o.URL = strings.TrimRight(o.URL, "/")
		if o.Priority == 0 {
			o.Priority = 10
		}
		if o.Weight <= 0 {
			o.Weight = 1
		}
	}
	sort.SliceStable(c.Orchestrators, func(i, j int) bool {
		a, b := c.Orchestrators[i], c.Orchestrators[j]
		if a.Priority != b.Priority {
			return a.Priority < b.Priority
		}
		return a.URL < b.URL
	})
	if c.Mode == "" {
		c.Mode = Failover
	}
	if c.MaxConcurrentTasks <= 0 {
		c.MaxConcurrentTasks = 10
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.HeartbeatInterval, 15*time.Second)
	def(&c.HeartbeatDebounce, 100*time.Millisecond)
	def(&c.PollTimeout, 30*time.Second)
	def(&c.RetryInitial, time.Second)
	def(&c.RetryMax, 60*time.Second)
	def(&c.ShutdownTimeout, 30*time.Second)
	if c.PayloadDir == "" {
		c.PayloadDir = "/tmp/payloads"
	}
	if c.S3.Region == "" {
		c.S3.Region = "us-east-1"
	}
	if c.S3.Bucket == "" {
		c.S3.Bucket = "avtomatika-payloads"
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return nil
}

var idRE = func(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}

func (c *Config) validate() error {
	var errs []error
	if !idRE(c.WorkerID) {
		errs = append(errs, fmt.Errorf("WORKER_ID %q: want 1 to 128 of [a-zA-Z0-9_-]", c.WorkerID))
	}
	for _, o := range c.Orchestrators {
		if o.URL == "" {
			errs = append(errs, errors.New("ORCHESTRATOR_URL is empty: want an http or https URL"))
			continue
		}
		u, err := url.Parse(o.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("ORCHESTRATOR_URL %q: want an http or https URL", o.URL))
		}
	}
	if c.Mode != Failover && c.Mode != RoundRobin {
		errs = append(errs, fmt.Errorf("MULTI_ORCHESTRATOR_MODE %q: want FAILOVER or ROUND_ROBIN", c.Mode))
	}
	return errors.Join(errs...)
}

// Lookup reads one variable; os.LookupEnv is one.
type Lookup func(string) (string, bool)

// FromEnv reads a configuration from the environment names of
// PROTOCOL.md §2.2 (and the documented aliases). A bad value is an error
// naming the variable.
func FromEnv(lookup Lookup) (Config, error) {
	var c Config
	var errs []error
	get := func(names ...string) (string, string) {
		for _, n := range names {
			if v, ok := lookup(n); ok && v != "" {
				return v, n
			}
		}
		return "", ""
	}
	seconds := func(dst *time.Duration, names ...string) {
		v, n := get(names...)
		if n == "" {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || f > 1e6 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive number of seconds", n, v))
			return
		}
		*dst = time.Duration(f * float64(time.Second))
	}
	jsonVar := func(dst any, name string) {
		if v, n := get(name); n != "" {
			if err := json.Unmarshal([]byte(v), dst); err != nil {
				errs = append(errs, fmt.Errorf("%s: invalid JSON: %v", name, err))
			}
		}
	}
	c.WorkerID, _ = get("WORKER_ID")
	c.WorkerType, _ = get("WORKER_TYPE")
	c.Token, _ = get("WORKER_INDIVIDUAL_TOKEN", "WORKER_TOKEN", "AVTOMATIKA_WORKER_TOKEN")
	if v, n := get("ORCHESTRATORS_CONFIG"); n != "" {
		if err := json.Unmarshal([]byte(v), &c.Orchestrators); err != nil {
			errs = append(errs, fmt.Errorf("ORCHESTRATORS_CONFIG: want a JSON list of {url, token?, priority?, weight?}: %v", err))
		} else if len(c.Orchestrators) == 0 {
			errs = append(errs, errors.New("ORCHESTRATORS_CONFIG: the list is empty"))
		}
		for _, o := range c.Orchestrators {
			if o.URL == "" {
				errs = append(errs, errors.New("ORCHESTRATORS_CONFIG: every entry needs a url"))
			}
		}
	} else if u, _ := get("ORCHESTRATOR_URL"); u != "" {
		c.Orchestrators = []Orchestrator{{URL: u}}
	}
	if v, n := get("MULTI_ORCHESTRATOR_MODE"); n != "" {
		switch strings.ToUpper(v) {
		case "FAILOVER", "WATERFALL":
			c.Mode = Failover
		case "ROUND_ROBIN":
			c.Mode = RoundRobin
		default:
			errs = append(errs, fmt.Errorf("MULTI_ORCHESTRATOR_MODE=%q: want FAILOVER or ROUND_ROBIN", v))
		}
	}
	if v, n := get("MAX_CONCURRENT_TASKS"); n != "" {
		i, err := strconv.Atoi(v)
		if err != nil || i < 1 || i > 10000 {
			errs = append(errs, fmt.Errorf("MAX_CONCURRENT_TASKS=%q: want an integer from 1 to 10000", v))
		}
		c.MaxConcurrentTasks = i
	}
	if v, n := get("WORKER_ENABLE_WEBSOCKETS"); n != "" {
		switch strings.ToLower(v) {
		case "1", "true", "yes", "on":
			c.EnableWebSockets = true
		case "0", "false", "no", "off":
		default:
			errs = append(errs, fmt.Errorf("WORKER_ENABLE_WEBSOCKETS=%q: want true or false", v))
		}
	}
	seconds(&c.HeartbeatInterval, "HEARTBEAT_INTERVAL")
	seconds(&c.HeartbeatDebounce, "WORKER_HEARTBEAT_DEBOUNCE_DELAY")
	seconds(&c.PollTimeout, "TASK_POLL_TIMEOUT")
	seconds(&c.RetryInitial, "REGISTRATION_RETRY_INITIAL_DELAY")
	seconds(&c.RetryMax, "REGISTRATION_RETRY_MAX_DELAY")
	seconds(&c.ShutdownTimeout, "WORKER_SHUTDOWN_TIMEOUT")
	c.PayloadDir, _ = get("WORKER_PAYLOAD_DIR", "TASK_FILES_DIR")
	c.S3.Endpoint, _ = get("S3_ENDPOINT_URL")
	c.S3.AccessKey, _ = get("S3_ACCESS_KEY")
	c.S3.SecretKey, _ = get("S3_SECRET_KEY")
	c.S3.Region, _ = get("S3_REGION")
	c.S3.Bucket, _ = get("S3_BUCKET", "S3_DEFAULT_BUCKET")
	if c.S3.Endpoint != "" {
		if u, err := url.Parse(c.S3.Endpoint); err != nil || u.Host == "" {
			errs = append(errs, fmt.Errorf("S3_ENDPOINT_URL=%q: want a URL", c.S3.Endpoint))
		}
	}
	jsonVar(&c.InstalledSoftware, "INSTALLED_SOFTWARE")
	jsonVar(&c.CostPerSkill, "COST_PER_SKILL")
	c.Resources = map[string]any{}
	for _, name := range []string{"CPU_CORES", "RAM_GB", "GPU_VRAM_GB"} {
		if v, n := get(name); n != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				errs = append(errs, fmt.Errorf("%s=%q: want a number", name, v))
				continue
			}
			c.Resources[strings.ToLower(name)] = f
		}
	}
	if v, _ := get("GPU_MODEL"); v != "" {
		c.Resources["gpu_model"] = v
	}
	if err := errors.Join(errs...); err != nil {
		return c, err
	}
	cc := c
	if err := cc.withDefaults(); err != nil {
		return c, err
	}
	if err := cc.validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Env is the process environment with a .env file of the working folder
// filling in what the environment does not set.
func Env() (Lookup, error) {
	dot := map[string]string{}
	f, err := os.Open(".env")
	if err == nil {
		defer f.Close()
		if dot, err = ParseDotEnv(".env", f); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return func(k string) (string, bool) {
		if v, ok := os.LookupEnv(k); ok {
			return v, true
		}
		v, ok := dot[k]
		return v, ok
	}, nil
}

// ParseDotEnv reads KEY=VALUE lines (export, quotes, # comments); errors
// name name:line.
func ParseDotEnv(name string, r io.Reader) (map[string]string, error) {
	return dotenv.Parse(name, r)
}
