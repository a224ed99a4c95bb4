// Package config reads the orchestrator's configuration: environment
// variables (and a .env file), clients.toml and workers.toml. Names follow
// PROTOCOL.md §2.1; every bad value is an error naming the variable or the
// file and line.
//
// Loaders take a lookup function rather than reading the process
// environment, so tests pass their own.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/avtomatika-ai/avtomatika-go/internal/dotenv"
)

// Lookup reads one variable; os.LookupEnv is one.
type Lookup func(name string) (string, bool)

// Config is the orchestrator's configuration. The zero value plus
// withDefaults is a working development setup.
type Config struct {
	Host string // API_HOST
	Port int    // API_PORT, default 8080

	BlueprintsDir string // BLUEPRINTS_DIR, default "blueprints"
	ClientsPath   string // CLIENTS_CONFIG_PATH
	WorkersPath   string // WORKERS_CONFIG_PATH

	GlobalWorkerToken string // GLOBAL_WORKER_TOKEN, default "secure-worker-token"
	ClientToken       string // CLIENT_TOKEN: a default client when there is no clients.toml
	// VerifySignatures checks §3.3 signatures on worker messages
	// (WORKER_VERIFY_SIGNATURES, default true).
	VerifySignatures bool
	// RequireSignatures refuses unsigned worker messages
	// (WORKER_REQUIRE_SIGNATURES, default false).
	RequireSignatures bool

	WorkerTimeout        time.Duration // WORKER_TIMEOUT_SECONDS, default 300 s
	PollTimeout          time.Duration // WORKER_POLL_TIMEOUT_SECONDS, default 30 s
	HealthCheckInterval  time.Duration // WORKER_HEALTH_CHECK_INTERVAL_SECONDS, default 60 s (TTL 2x)
	MaxTransitionsPerJob int           // MAX_TRANSITIONS_PER_JOB, default 100
	MaxBodyBytes         int64         // MAX_BODY_BYTES, default 1 MiB
	// JobMaxRetries: further attempts after a transient failure for a task
	// whose blueprint sets no retries (JOB_MAX_RETRIES, default 3; 0: none).
	JobMaxRetries int
	// DispatchTimeout: how long a task may wait for a worker when neither
	// the blueprint nor the job says (DISPATCH_TIMEOUT_SECONDS; 0: until
	// the job is cancelled).
	DispatchTimeout time.Duration

	LogLevel  string // LOG_LEVEL: debug, info, warn, error
	LogFormat string // LOG_FORMAT: json or text

	RedisURL string // REDIS_URL (or REDIS_HOST/REDIS_PORT/REDIS_DB); empty: memory store

	// HistoryURI is the history database (HISTORY_DATABASE_URI):
	// sqlite:///path.db or postgresql://…; empty: no history.
	HistoryURI string
	// JobRetention is how long an ended job stays in the live store once
	// archived (JOB_RETENTION, default 1 h); without history it stays.
	JobRetention time.Duration
	// ArchiveBacklog is how many ended jobs may wait in the outbox while
	// the archiver yields the CPU to the process's other work
	// (HISTORY_ARCHIVE_BACKLOG, default 50,000; 0: archive as jobs end,
	// whatever the load).
	ArchiveBacklog int
	// Operations (docs/operations.md).
	SchedulesPath string // SCHEDULES_CONFIG_PATH: schedules.toml
	TZ            string // TZ: time zone of schedules.toml entries without one, default UTC
	// ReadyDelay is how long the instance answers /_public/readyz 503
	// after SIGTERM while it still takes new jobs, so a load balancer
	// stops sending before the drain refuses them (READY_DELAY_SECONDS,
	// default 0).
	ReadyDelay time.Duration
	// WebhookSecret signs webhook deliveries of clients without a
	// webhook_secret of their own (WEBHOOK_SECRET; empty: unsigned).
	WebhookSecret string
	// WebhookMaxAttempts bounds the tries of one delivery
	// (WEBHOOK_MAX_ATTEMPTS, default 8); WebhookTimeout is each try's
	// (WEBHOOK_TIMEOUT_SECONDS, default 10 s).
	WebhookMaxAttempts int
	WebhookTimeout     time.Duration

	Limits Limits

	// NoConsole turns the web console at / off (CONSOLE=off; default on).
	NoConsole bool
}

// Limits bound what callers can make the server hold: connections, bytes,
// request rates, and how long keys and retries are remembered. Each has
// an environment variable and a default (docs/operations.md, "Limits").
type Limits struct {
	// BodyReadTimeout is how long a request's body may take to arrive
	// (REQUEST_BODY_TIMEOUT_SECONDS, default 30 s); the header has 10 s.
	BodyReadTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that carries no request
	// for this long (HTTP_IDLE_TIMEOUT_SECONDS, default 120 s).
	IdleTimeout time.Duration
	// MaxConnections caps the open connections (MAX_CONNECTIONS); past it
	// an idle connection is closed to make room, else the new one is
	// refused at once. 0: the open-file limit less 128.
	MaxConnections int
	// MaxParkedPerWorker caps one worker's parked connections and held
	// polls (WORKER_MAX_PARKED_CONNECTIONS, default 64).
	MaxParkedPerWorker int

	// MaxInputBytes bounds a job's initial_data as sent
	// (MAX_JOB_INPUT_BYTES, default 256 KiB).
	MaxInputBytes int
	// MaxRegistrationBytes bounds a worker registration
	// (MAX_REGISTRATION_BYTES, default 64 KiB).
	MaxRegistrationBytes int
	// MaxEventBytes bounds a worker event's payload
	// (MAX_EVENT_PAYLOAD_BYTES, default 64 KiB).
	MaxEventBytes int
	// JobCacheBytes bounds the copies of jobs an instance keeps
	// (JOB_CACHE_MAX_BYTES, default 256 MiB).
	JobCacheBytes int64

	// IdempotencyWindow is how long an Idempotency-Key names its job
	// (IDEMPOTENCY_WINDOW_SECONDS, default 24 h).
	IdempotencyWindow time.Duration
	// MaxReservations bounds the live idempotency keys and seen
	// signatures the memory store keeps (MAX_RESERVATIONS, default
	// 1,000,000); Redis keeps them as keys with a time to live.
	MaxReservations int
	// TaskGrace is how long a task leased to a worker may be missing from
	// its heartbeat's current_tasks before it is handed on
	// (WORKER_TASK_GRACE_SECONDS, default 15 s).
	TaskGrace time.Duration

	// RateLimiting turns the token buckets on (RATE_LIMITING_ENABLED,
	// default false). Each client and each worker has its own.
	RateLimiting bool
	// RateLimit requests per RatePeriod for a client, and for a worker's
	// other requests (RATE_LIMIT_LIMIT, default 100).
	RateLimit int
	// RatePeriod (RATE_LIMIT_PERIOD seconds, default 60).
	RatePeriod time.Duration
	// HeartbeatLimit heartbeats per period per worker
	// (RATE_LIMIT_HEARTBEAT_LIMIT, default 120).
	HeartbeatLimit int
	// PollLimit polls per period per worker (RATE_LIMIT_POLL_LIMIT,
	// default 60); a poll over it is held until it is due, not refused.
	PollLimit int
}

// SetDefaults fills in the default of each limit left zero.
func (l *Limits) SetDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	num := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	def(&l.BodyReadTimeout, 30*time.Second)
	def(&l.IdleTimeout, 120*time.Second)
	num(&l.MaxParkedPerWorker, 64)
	num(&l.MaxInputBytes, 256<<10)
	num(&l.MaxRegistrationBytes, 64<<10)
	num(&l.MaxEventBytes, 64<<10)
	if l.JobCacheBytes == 0 {
		l.JobCacheBytes = 256 << 20
	}
	def(&l.IdempotencyWindow, 24*time.Hour)
	num(&l.MaxReservations, 1_000_000)
	def(&l.TaskGrace, 15*time.Second)
	num(&l.RateLimit, 100)
	def(&l.RatePeriod, 60*time.Second)
	num(&l.HeartbeatLimit, 120)
	num(&l.PollLimit, 60)
}

// DefaultArchiveBacklog is HISTORY_ARCHIVE_BACKLOG's default.
const DefaultArchiveBacklog = 50_000

// DefaultJobRetention is JOB_RETENTION's default.
const DefaultJobRetention = time.Hour

func (c *Config) withDefaults() {
	if c.Port == 0 {
		c.Port = 8080
	}
	if c.BlueprintsDir == "" {
		c.BlueprintsDir = "blueprints"
	}
	if c.GlobalWorkerToken == "" {
		c.GlobalWorkerToken = "secure-worker-token"
	}
	if c.WorkerTimeout == 0 {
		c.WorkerTimeout = 300 * time.Second
	}
	if c.PollTimeout == 0 {
		c.PollTimeout = 30 * time.Second
	}
	if c.HealthCheckInterval == 0 {
		c.HealthCheckInterval = 60 * time.Second
	}
	if c.WebhookMaxAttempts == 0 {
		c.WebhookMaxAttempts = 8
	}
	if c.WebhookTimeout == 0 {
		c.WebhookTimeout = 10 * time.Second
	}
	if c.MaxTransitionsPerJob == 0 {
		c.MaxTransitionsPerJob = 100
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	}
	if c.LogFormat == "" {
		c.LogFormat = "text"
	}
	if c.JobRetention == 0 {
		c.JobRetention = DefaultJobRetention
	}
	c.Limits.SetDefaults()
}

// Addr is host:port to listen on.
func (c *Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// Default returns the configuration with every default applied.
func Default() Config {
	var c Config
	c.VerifySignatures = true
	c.JobMaxRetries = 3
	c.ArchiveBacklog = DefaultArchiveBacklog
	c.withDefaults()
	return c
}

// FromEnv reads the configuration from lookup. Unknown variables are
// ignored; a bad value is an error naming the variable.
func FromEnv(lookup Lookup) (Config, error) {
	c := Default()
	var errs []error
	str := func(name string, dst *string) {
		if v, ok := lookup(name); ok && v != "" {
			*dst = v
		}
	}
	integer := func(name string, dst *int, lo, hi int) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < lo || n > hi {
			errs = append(errs, fmt.Errorf("%s=%q: want an integer from %d to %d", name, v, lo, hi))
			return
		}
		*dst = n
	}
	seconds := func(name string, dst *time.Duration) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f <= 0 || f > 1e7 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive number of seconds", name, v))
			return
		}
		*dst = time.Duration(f * float64(time.Second))
	}
	boolean := func(name string, dst *bool) {
		v, ok := lookup(name)
		if !ok || v == "" {
			return
		}
		b, err := parseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want true or false", name, v))
			return
		}
		*dst = b
	}
	str("API_HOST", &c.Host)
	integer("API_PORT", &c.Port, 0, 65535)
	str("BLUEPRINTS_DIR", &c.BlueprintsDir)
	str("CLIENTS_CONFIG_PATH", &c.ClientsPath)
	str("WORKERS_CONFIG_PATH", &c.WorkersPath)
	str("GLOBAL_WORKER_TOKEN", &c.GlobalWorkerToken)
	str("CLIENT_TOKEN", &c.ClientToken)
	boolean("WORKER_VERIFY_SIGNATURES", &c.VerifySignatures)
	boolean("WORKER_REQUIRE_SIGNATURES", &c.RequireSignatures)
	seconds("WORKER_TIMEOUT_SECONDS", &c.WorkerTimeout)
	seconds("WORKER_POLL_TIMEOUT_SECONDS", &c.PollTimeout)
	seconds("WORKER_HEALTH_CHECK_INTERVAL_SECONDS", &c.HealthCheckInterval)
	integer("MAX_TRANSITIONS_PER_JOB", &c.MaxTransitionsPerJob, 1, 1_000_000)
	integer("JOB_MAX_RETRIES", &c.JobMaxRetries, 0, 1000)
	seconds("DISPATCH_TIMEOUT_SECONDS", &c.DispatchTimeout)
	var mb int
	integer("MAX_BODY_BYTES", &mb, 0, 1<<30)
	if mb > 0 {
		c.MaxBodyBytes = int64(mb)
	}
	l := &c.Limits
	seconds("REQUEST_BODY_TIMEOUT_SECONDS", &l.BodyReadTimeout)
	seconds("HTTP_IDLE_TIMEOUT_SECONDS", &l.IdleTimeout)
	integer("MAX_CONNECTIONS", &l.MaxConnections, 0, 10_000_000)
	integer("WORKER_MAX_PARKED_CONNECTIONS", &l.MaxParkedPerWorker, 1, 1_000_000)
	integer("MAX_JOB_INPUT_BYTES", &l.MaxInputBytes, 1, 1<<30)
	integer("MAX_REGISTRATION_BYTES", &l.MaxRegistrationBytes, 1, 1<<30)
	integer("MAX_EVENT_PAYLOAD_BYTES", &l.MaxEventBytes, 1, 1<<30)
	var cacheBytes int
	integer("JOB_CACHE_MAX_BYTES", &cacheBytes, 0, 1<<40)
	if cacheBytes > 0 {
		l.JobCacheBytes = int64(cacheBytes)
	}
	seconds("IDEMPOTENCY_WINDOW_SECONDS", &l.IdempotencyWindow)
	integer("MAX_RESERVATIONS", &l.MaxReservations, 1, 1_000_000_000)
	seconds("WORKER_TASK_GRACE_SECONDS", &l.TaskGrace)
	boolean("RATE_LIMITING_ENABLED", &l.RateLimiting)
	integer("RATE_LIMIT_LIMIT", &l.RateLimit, 1, 1_000_000_000)
	seconds("RATE_LIMIT_PERIOD", &l.RatePeriod)
	integer("RATE_LIMIT_HEARTBEAT_LIMIT", &l.HeartbeatLimit, 1, 1_000_000_000)
	integer("RATE_LIMIT_POLL_LIMIT", &l.PollLimit, 1, 1_000_000_000)
	str("LOG_LEVEL", &c.LogLevel)
	c.LogLevel = strings.ToLower(c.LogLevel)
	switch c.LogLevel {
	case "debug", "info", "warn", "warning", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	str("LOG_FORMAT", &c.LogFormat)
	c.LogFormat = strings.ToLower(c.LogFormat)
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT=%q: want json or text", c.LogFormat))
	}
	str("REDIS_URL", &c.RedisURL)
	if host, ok := lookup("REDIS_HOST"); ok && host != "" && c.RedisURL == "" {
		port, db := 6379, 0
		integer("REDIS_PORT", &port, 1, 65535)
		integer("REDIS_DB", &db, 0, 1<<20)
		c.RedisURL = fmt.Sprintf("redis://%s/%d", net.JoinHostPort(host, strconv.Itoa(port)), db)
	}
	str("HISTORY_DATABASE_URI", &c.HistoryURI)
	if v, ok := lookup("JOB_RETENTION"); ok && strings.TrimSpace(v) != "" {
		d, err := ParseRetention(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("JOB_RETENTION=%q: %v", v, err))
		} else {
			c.JobRetention = d
		}
	}
	integer("HISTORY_ARCHIVE_BACKLOG", &c.ArchiveBacklog, 0, 100_000_000)
	// Worker authentication is by token; refuse what would silently not
	// be enforced.
	if v, ok := lookup("WORKER_AUTH_MODE"); ok && v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "mixed", "token-only":
		case "mtls-only":
			errs = append(errs, fmt.Errorf("WORKER_AUTH_MODE=%q: mTLS is not supported; want mixed or token-only", v))
		default:
			errs = append(errs, fmt.Errorf("WORKER_AUTH_MODE=%q: want mixed or token-only", v))
		}
	}
	console := true
	boolean("CONSOLE", &console)
	c.NoConsole = !console
	var tls bool
	boolean("TLS_ENABLED", &tls)
	if tls {
		errs = append(errs, fmt.Errorf("TLS_ENABLED=true: TLS is not served; terminate it in a proxy in front"))
	}
	str("SCHEDULES_CONFIG_PATH", &c.SchedulesPath)
	str("TZ", &c.TZ)
	if v, ok := lookup("READY_DELAY_SECONDS"); ok && v != "" {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || f < 0 || f > 3600 {
			errs = append(errs, fmt.Errorf("READY_DELAY_SECONDS=%q: want a number of seconds from 0 to 3600", v))
		} else {
			c.ReadyDelay = time.Duration(f * float64(time.Second))
		}
	}
	str("WEBHOOK_SECRET", &c.WebhookSecret)
	integer("WEBHOOK_MAX_ATTEMPTS", &c.WebhookMaxAttempts, 1, 100)
	seconds("WEBHOOK_TIMEOUT_SECONDS", &c.WebhookTimeout)
	if c.PollTimeout > 5*time.Minute {
		errs = append(errs, fmt.Errorf("WORKER_POLL_TIMEOUT_SECONDS: at most 300"))
	}
	return c, errors.Join(errs...)
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "1", "true", "yes", "on":
		return true, nil
	case "0", "false", "no", "off":
		return false, nil
	}
	return false, errors.New("not a boolean")
}

// ReadDotEnv parses a .env file as python-dotenv does (see
// internal/dotenv): KEY=VALUE entries, `export ` prefixes, single and
// double quotes (which may span lines), # comments. A missing file is not
// an error.
func ReadDotEnv(path string) (map[string]string, error) {
	return dotenv.Read(path)
}

// ParseDotEnv parses .env text; errors name name:line.
func ParseDotEnv(name string, r io.Reader) (map[string]string, error) {
	return dotenv.Parse(name, r)
}

// EnvWithDotEnv looks variables up in the environment first, then in the
// .env values.
func EnvWithDotEnv(env Lookup, dot map[string]string) Lookup {
	return func(name string) (string, bool) {
		if v, ok := env(name); ok {
			return v, true
		}
		v, ok := dot[name]
		return v, ok
	}
}

// Client is one entry of clients.toml.
type Client struct {
	Name            string
	Token           string
	Plan            string
	MonthlyAttempts *int64 // nil: unlimited
	Params          map[string]any
	Fields          map[string]any // every other key
}

// LoadClients reads clients.toml: one table per client with a token.
func LoadClients(path string) ([]Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseClients(path, b)
}

// ParseClients parses clients.toml text; errors name name:line. Clients
// come sorted by name.
func ParseClients(name string, data []byte) ([]Client, error) {
	// The first pass checks each entry is a table with a token (errors at
	// the table's line) and keeps its raw keys; the second checks each
	// member's type (errors at the member's line).
	if err := tomlSyntax(name, data); err != nil {
		return nil, err
	}
	var tables map[string]*clientTable
	if _, err := toml.Decode(string(data), &tables); err != nil {
		return nil, tomlError(name, err, true)
	}
	var typed map[string]struct {
		Token           tomlString `toml:"token"`
		Plan            tomlString `toml:"plan"`
		MonthlyAttempts *tomlCount `toml:"monthly_attempts"`
		Params          *tomlTable `toml:"params"`
	}
	if _, err := toml.Decode(string(data), &typed); err != nil {
		return nil, tomlError(name, err, true)
	}
	out := make([]Client, 0, len(tables))
	for cname, t := range tables {
		f := typed[cname]
		c := Client{Name: cname, Token: string(f.Token), Plan: string(f.Plan), Fields: map[string]any{}}
		if f.MonthlyAttempts != nil {
			n := int64(*f.MonthlyAttempts)
			c.MonthlyAttempts = &n
		}
		if f.Params != nil {
			c.Params = map[string]any(*f.Params)
		}
		for k, v := range t.raw {
			switch k {
			case "token", "plan", "monthly_attempts":
			default:
				c.Fields[k] = v
			}
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Client) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(out); i++ {
		for _, prev := range out[:i] {
			if prev.Token == out[i].Token {
				return nil, fmt.Errorf("%s: [%s] and [%s] share a token; each client needs its own", at(name, data, out[i].Name), prev.Name, out[i].Name)
			}
		}
	}
	return out, nil
}

// LoadWorkers reads workers.toml: worker id -> token. Entries without a
// token are skipped, as in the Python orchestrator.
func LoadWorkers(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseWorkers(path, b)
}

// ParseWorkers parses workers.toml text; errors name name:line.
func ParseWorkers(name string, data []byte) (map[string]string, error) {
	if err := tomlSyntax(name, data); err != nil {
		return nil, err
	}
	var tables map[string]*table
	if _, err := toml.Decode(string(data), &tables); err != nil {
		return nil, tomlError(name, err, true)
	}
	var typed map[string]struct {
		Token *tomlString `toml:"token"`
	}
	if _, err := toml.Decode(string(data), &typed); err != nil {
		return nil, tomlError(name, err, true)
	}
	out := map[string]string{}
	for id := range tables {
		if tok := typed[id].Token; tok != nil {
			if !workerIDRE.MatchString(id) {
				return nil, fmt.Errorf("%s: [%s]: a worker id is 1 to 128 of [a-zA-Z0-9_-]", at(name, data, id), id)
			}
			out[id] = string(*tok)
		}
	}
	return out, nil
}

var workerIDRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)

// table is one top-level entry of clients.toml or workers.toml: it must
// be a table; its keys are kept.
type table struct{ raw map[string]any }

func (t *table) UnmarshalTOML(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return badValue("want a table ([name] with token = \"...\"), got %s", tomlKind(v))
	}
	t.raw = m
	return nil
}

// clientTable is a table that must have a token.
type clientTable struct{ table }

func (t *clientTable) UnmarshalTOML(v any) error {
	if err := t.table.UnmarshalTOML(v); err != nil {
		return err
	}
	if _, ok := t.raw["token"]; !ok {
		return badValue("no token: each client needs token = \"...\"")
	}
	return nil
}

// badValue is a bad value found by an UnmarshalTOML of ours; the parser
// gives it the key and the line.
func badValue(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}

// tomlSyntax parses the text alone, so that later errors are about values.
func tomlSyntax(name string, data []byte) error {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return tomlError(name, err, false)
	}
	return nil
}

// at is name:line of the table header (or inline table) of key in a TOML
// file, or name when it cannot be found.
func at(name string, data []byte, key string) string {
	for i, line := range strings.Split(string(data), "\n") {
		l := strings.TrimSpace(line)
		for _, k := range []string{key, strconv.Quote(key), "'" + key + "'"} {
			if strings.HasPrefix(l, "["+k+"]") || (strings.HasPrefix(l, k) && strings.HasPrefix(strings.TrimSpace(l[len(k):]), "=")) {
				return fmt.Sprintf("%s:%d", name, i+1)
			}
		}
	}
	return name
}

// tomlString is a non-empty string member.
type tomlString string

func (s *tomlString) UnmarshalTOML(v any) error {
	str, ok := v.(string)
	if !ok || str == "" {
		return badValue("want a non-empty string, got %s", tomlKind(v))
	}
	*s = tomlString(str)
	return nil
}

// tomlCount is a non-negative integer member.
type tomlCount int64

func (n *tomlCount) UnmarshalTOML(v any) error {
	i, ok := v.(int64)
	if !ok || i < 0 {
		return badValue("want a non-negative integer, got %s", tomlKind(v))
	}
	*n = tomlCount(i)
	return nil
}

// tomlTable is a table member.
type tomlTable map[string]any

func (t *tomlTable) UnmarshalTOML(v any) error {
	m, ok := v.(map[string]any)
	if !ok {
		return badValue("want a table, got %s", tomlKind(v))
	}
	*t = m
	return nil
}

func tomlKind(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("the string %q", x)
	case int64:
		return fmt.Sprintf("the integer %d", x)
	case float64:
		return fmt.Sprintf("the float %g", x)
	case bool:
		return fmt.Sprintf("%t", x)
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return fmt.Sprintf("a %T", v)
}

// tomlError names path:line; a member error (member set: the text
// parsed, a value was wrong) also names its key.
func tomlError(path string, err error, member bool) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		if member && pe.LastKey != "" {
			return fmt.Errorf("%s:%d: %s: %s", path, pe.Position.Line, pe.LastKey, pe.Message)
		}
		return fmt.Errorf("%s:%d: %s", path, pe.Position.Line, pe.Message)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// ParseRetention reads JOB_RETENTION: a Go duration ("90m", "24h", "0s")
// or a number of seconds; 0 removes ended jobs as soon as they are
// archived. At most 10 years.
func ParseRetention(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	var d time.Duration
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || f > 315_360_000 {
			return 0, fmt.Errorf("want a duration from 0s to 87600h")
		}
		d = time.Duration(f * float64(time.Second))
	} else {
		d, err = time.ParseDuration(v)
		if err != nil {
			return 0, fmt.Errorf("want a duration such as 1h or 30m, or a number of seconds")
		}
	}
	if d < 0 || d > 87600*time.Hour {
		return 0, fmt.Errorf("want a duration from 0s to 87600h")
	}
	if d == 0 {
		d = time.Nanosecond // 0 means at once; the zero value means the default
	}
	return d, nil
}
