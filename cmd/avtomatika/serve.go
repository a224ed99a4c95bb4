package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
)

func runServe(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	blueprints := fl.String("blueprints", "", "blueprints folder (default $BLUEPRINTS_DIR or blueprints)")
	addr := fl.String("addr", "", "listen address, host:port (default $API_HOST:$API_PORT, :8080)")
	envFile := fl.String("env-file", ".env", "a .env file read after the environment (missing is fine)")
	grace := fl.Duration("grace", 30*time.Second, "how long in-flight requests may take after SIGTERM")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "usage: avtomatika serve [--blueprints DIR] [--addr HOST:PORT] [--env-file .env]")
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
	opts := server.Options{Config: cfg, Logger: log}
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
	srv, err := server.New(opts)
	if err != nil {
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
				base, m.Endpoint, tok, sampleInput(m.Name))
			break
		}
	}
	fmt.Fprintf(stdout, "blueprints:   curl -s %s/api/v1/blueprints\n", base)
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

func sampleInput(name string) string {
	switch {
	case strings.Contains(name, "inventory"):
		return `{"item_id": "sku-42", "quantity": 3}`
	case strings.Contains(name, "long"):
		return `{"duration_seconds": 30}`
	case strings.Contains(name, "order"):
		return `{"items": [{"sku": "a"}]}`
	}
	return "{}"
}
