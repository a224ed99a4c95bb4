package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/runtime/telemetry"
)

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	blueprints := fl.String("blueprints", "", "blueprints folder (default $BLUEPRINTS_DIR or blueprints)")
	addr := fl.String("addr", "", "listen address, host:port (default $API_HOST:$API_PORT, :8080)")
	envFile := fl.String("env-file", ".env", "a .env file read after the environment (missing is fine)")
	grace := fl.Duration("grace", 30*time.Second, "how long in-flight requests may take after SIGTERM")
	dataDir := fl.String("data", "", "a folder for everything this node keeps on disk (the job history in DIR/history.db unless $HISTORY_DATABASE_URI is set)")
	drainDelay := fl.Duration("drain-delay", 2*time.Second, "after SIGTERM, how long the listener stays open answering 503 to new jobs (within --grace) before it closes; 0: at once")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: avtomatika serve [--blueprints DIR] [--addr HOST:PORT] [--env-file .env] [--data DIR]")
		fmt.Fprintln(stderr, "\nServes the client API and the worker protocol; configuration from the environment")
		fmt.Fprintln(stderr, "(see docs/server.md). SIGINT/SIGTERM drain: no new jobs, in-flight requests finish.")
		fl.PrintDefaults()
	}
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(stderr, "avtomatika serve: unexpected argument %q\n", fl.Arg(0))
		return exitUsage
	}
	dot, err := config.ReadDotEnv(*envFile)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika serve: %v\n", err)
		return exitUsage
	}
	lookup := config.EnvWithDotEnv(os.LookupEnv, dot)
	cfg, err := config.FromEnv(lookup)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika serve: configuration:\n%v\n", err)
		return exitUsage
	}
	if *blueprints != "" {
		cfg.BlueprintsDir = *blueprints
	}
	listen := cfg.Addr()
	if *addr != "" {
		listen = *addr
	}
	level := map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "warning": slog.LevelWarn, "error": slog.LevelError}[cfg.LogLevel]
	var h slog.Handler = slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})
	}
	log := slog.New(h)
	opts := server.Options{Config: cfg, Logger: log, DrainDelay: *drainDelay}
	if cfg.ClientsPath != "" {
		if opts.Clients, err = config.LoadClients(cfg.ClientsPath); err != nil {
			fmt.Fprintf(stderr, "avtomatika serve: CLIENTS_CONFIG_PATH: %v\n", err)
			return exitUsage
		}
	}
	if cfg.WorkersPath != "" {
		if opts.Workers, err = config.LoadWorkers(cfg.WorkersPath); err != nil {
			fmt.Fprintf(stderr, "avtomatika serve: WORKERS_CONFIG_PATH: %v\n", err)
			return exitUsage
		}
	}
	if cfg.RedisURL != "" || hasAny(lookup, "REDIS_ADDRS", "REDIS_HOST") {
		st, err := openRedis(ctx, cfg, lookup)
		if err != nil {
			fmt.Fprintf(stderr, "avtomatika serve: redis store: %v\n", err)
			return exitUsage
		}
		opts.Store = st
	}
	hist, err := openHistory(ctx, &cfg, *dataDir)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika serve: %v\n", err)
		return exitUsage
	}
	if hist != nil {
		opts.History = hist
	}
	tracer, stopTracing, err := telemetry.Setup(ctx, lookup)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika serve: tracing: %v\n", err)
		return exitUsage
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(sctx); err != nil {
			log.Warn("flush traces", "err", err)
		}
	}()
	if tracer != nil {
		opts.Tracing = tracer
		log.Info("tracing on: spans exported over OTLP")
	}
	srv, err := server.New(opts)
	if err != nil {
		if hist != nil {
			hist.Close()
		}
		fmt.Fprintf(stderr, "avtomatika serve: %v\n", err)
		return exitUsage
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(stderr, "avtomatika serve: listen on %s: %v\n", listen, err)
		return exitUsage
	}
	base := "http://" + displayAddr(l.Addr().String())
	fmt.Fprintf(stdout, "avtomatika serving %d blueprint(s) from %s at %s\n", len(srv.Registry().Set().Machines), cfg.BlueprintsDir, base)
	for _, m := range srv.Registry().Set().Machines {
		if m.Endpoint != "" {
			tok := ""
			if cfg.ClientToken != "" && cfg.ClientsPath == "" {
				tok = fmt.Sprintf(" -H 'X-Client-Token: %s'", cfg.ClientToken)
			}
			fmt.Fprintf(stdout, "start a job:  curl -s -X POST %s/api/v1%s%s -H 'Content-Type: application/json' -d '{\"initial_data\": %s}'\n",
				base, m.Endpoint, tok, sampleInput(m))
			break
		}
	}
	fmt.Fprintf(stdout, "blueprints:   curl -s %s/api/v1/blueprints\n", base)
	if !cfg.NoConsole {
		fmt.Fprintf(stdout, "console:      %s/\n", base)
	}
	if err := srv.Run(ctx, l, *grace); err != nil {
		fmt.Fprintf(stderr, "avtomatika serve: %v\n", err)
		return exitFindings
	}
	fmt.Fprintln(stdout, "avtomatika: drained and stopped")
	return exitOK
}

func hasAny(lookup config.Lookup, names ...string) bool {
	for _, n := range names {
		if v, ok := lookup(n); ok && v != "" {
			return true
		}
	}
	return false
}

func displayAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if host == "" || host == "::" || host == "0.0.0.0" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// sampleInput is initial_data for the curl line: built from the
// blueprint's input schema (examples, default, const or enum first, else
// a value of the type), kept only when the schema accepts it.
func sampleInput(m *lang.Machine) string {
	if m.Input == nil {
		return "{}"
	}
	v := sampleOf(m.Input.Raw, 0)
	obj, ok := v.(map[string]any)
	if !ok || m.Input.Validate(obj) != nil {
		return "{}"
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return "{}"
	}
	return string(b)
}

func sampleOf(schema any, depth int) any {
	sc, ok := schema.(map[string]any)
	if !ok || depth > 8 {
		return nil
	}
	if ex, ok := sc["examples"].([]any); ok && len(ex) > 0 {
		return ex[0]
	}
	for _, k := range []string{"default", "const"} {
		if v, ok := sc[k]; ok {
			return v
		}
	}
	if en, ok := sc["enum"].([]any); ok && len(en) > 0 {
		return en[0]
	}
	typ, _ := sc["type"].(string)
	if ts, ok := sc["type"].([]any); ok && len(ts) > 0 {
		typ, _ = ts[0].(string)
	}
	switch typ {
	case "string":
		return "example"
	case "integer", "number":
		if min, ok := sc["minimum"]; ok {
			return min
		}
		return 1
	case "boolean":
		return true
	case "array":
		var n int64
		switch x := sc["minItems"].(type) {
		case int:
			n = int64(x)
		case int64:
			n = x
		case float64:
			n = int64(x)
		}
		out := []any{}
		for range min(n, 3) {
			item := sampleOf(sc["items"], depth+1)
			if item == nil {
				item = map[string]any{}
			}
			out = append(out, item)
		}
		return out
	}
	props, _ := sc["properties"].(map[string]any)
	if typ != "object" && props == nil {
		return nil
	}
	names := []string{}
	if req, ok := sc["required"].([]any); ok {
		for _, r := range req {
			if n, ok := r.(string); ok {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		for n := range props {
			names = append(names, n)
		}
	}
	out := map[string]any{}
	for _, n := range names {
		if v := sampleOf(props[n], depth+1); v != nil {
			out[n] = v
		}
	}
	return out
}
