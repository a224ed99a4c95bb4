package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/server"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

const scriptWorkerToken = "script-worker-token"

// scriptCmds are the testscript commands of the scripts:
//
//	server [--token T] [DIR]  serve DIR (default blueprints) on loopback
//	                          until the script ends; sets AVTOMATIKA_URL
//	worker ID SKILL...        a worker on the server until the script ends:
//	                          check_inventory answers out_of_stock for
//	                          an item_id starting with "gone", failure
//	                          (PERMANENT_ERROR) for "broken", else success;
//	                          any other task type succeeds
//	capture NAME              set $NAME to the last command's stdout, trimmed
//	avtomatika [<FILE] ARGS   the command, run in this process (scriptAvtomatika)
func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	return map[string]func(ts *testscript.TestScript, neg bool, args []string){
		"avtomatika": scriptAvtomatika,
		"server":     scriptServer,
		"worker":     scriptWorker,
		"capture":    scriptCapture,
	}
}

func scriptServer(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! server")
	}
	cfg := config.Default()
	if len(args) >= 2 && args[0] == "--token" {
		cfg.ClientToken = args[1]
		args = args[2:]
	}
	dir := "blueprints"
	if len(args) == 1 {
		dir = args[0]
	} else if len(args) > 1 {
		ts.Fatalf("usage: server [--token T] [DIR]")
	}
	url, stop, err := startTestServer(cfg, ts.MkAbs(dir))
	ts.Check(err)
	ts.Defer(func() {
		if err := stop(); err != nil {
			ts.Logf("server: %v", err)
		}
	})
	ts.Setenv("AVTOMATIKA_URL", url)
}

// startTestServer serves dir on a loopback port; stop ends the server and
// waits for it.
func startTestServer(cfg config.Config, dir string) (url string, stop func() error, err error) {
	cfg.BlueprintsDir = dir
	cfg.GlobalWorkerToken = scriptWorkerToken
	cfg.PollTimeout = 2 * time.Second
	srv, err := server.New(server.Options{Config: cfg})
	if err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx, l, 5*time.Second) }()
	return "http://" + l.Addr().String(), func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			return fmt.Errorf("server on %s did not stop", l.Addr())
		}
	}, nil
}

func scriptCapture(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: capture NAME")
	}
	ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile("stdout")))
}

// scriptWorker speaks the worker protocol over HTTP: register, long-poll,
// answer.
func scriptWorker(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: worker ID SKILL...")
	}
	id, skills := args[0], args[1:]
	base := ts.Getenv("AVTOMATIKA_URL")
	if base == "" {
		ts.Fatalf("worker: no server: run the server command first")
	}
	ctx, cancel := context.WithCancel(context.Background())
	send := func(method, path string, body any, out any) (int, error) {
		var rd io.Reader
		if body != nil {
			b, err := json.Marshal(body)
			if err != nil {
				return 0, err
			}
			rd = bytes.NewReader(b)
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
		if err != nil {
			return 0, err
		}
		req.Header.Set(wire.HeaderWorkerToken, scriptWorkerToken)
		req.Header.Set(wire.HeaderWorkerID, id)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if out != nil && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
				return resp.StatusCode, err
			}
		}
		return resp.StatusCode, nil
	}
	var sk []wire.SkillInfo
	for _, s := range skills {
		sk = append(sk, wire.SkillInfo{Name: s})
	}
	reg := wire.Registration{WorkerID: id, WorkerType: "script", SupportedSkills: sk, Timestamp: wire.Now()}
	code, err := send(http.MethodPost, wire.RouteRegister, reg, nil)
	if err != nil || code != http.StatusOK {
		cancel()
		ts.Fatalf("register worker %s: %d %v", id, code, err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			var task wire.Task
			code, err := send(http.MethodGet, fmt.Sprintf(wire.RouteNextFmt, id)+"?timeout=1", nil, &task)
			if err != nil || code != http.StatusOK {
				continue
			}
			res := scriptAnswer(task)
			res.WorkerID, res.Timestamp = id, wire.Now()
			_, _ = send(http.MethodPost, wire.RouteResult, res, nil)
		}
	})
	ts.Defer(func() { cancel(); wg.Wait() })
}

func scriptAnswer(task wire.Task) wire.Result {
	res := wire.Result{JobID: task.JobID, TaskID: task.TaskID, Status: wire.ResultSuccess}
	item := fmt.Sprint(task.Params["item_id"])
	switch {
	case task.Type != "check_inventory":
		res.Data = map[string]any{"done": task.Type}
	case strings.HasPrefix(item, "gone"):
		res.Status, res.Data = "out_of_stock", map[string]any{"in_stock": false}
	case strings.HasPrefix(item, "broken"):
		res.Status = wire.ResultFailure
		res.Error = &wire.Error{Code: "PERMANENT_ERROR", Message: "item " + item + " is not in the catalogue"}
	default:
		res.Data = map[string]any{"in_stock": true, "quantity": task.Params["quantity"]}
	}
	return res
}
