package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

func runSchedule(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return scheduleMain(ctx, args, os.LookupEnv, stdout, stderr)
}

func scheduleUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: avtomatika schedule ls|pause NAME|resume NAME [--url URL] [--token TOKEN] [--json]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "  ls       list the schedules with their next fire times and last job")
	fmt.Fprintln(w, "  pause    stop a schedule on every instance (its fires are missed)")
	fmt.Fprintln(w, "  resume   start a paused schedule again from its next fire")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "The server is --url, else $AVTOMATIKA_URL, else http://localhost:8080; the token")
	fmt.Fprintln(w, "is --token, else $CLIENT_TOKEN. Exit status: 0 done, 1 the server refused, 2 usage.")
}

type scheduleView struct {
	Name      string      `json:"name"`
	Blueprint string      `json:"blueprint"`
	Trigger   string      `json:"trigger"`
	TimeZone  string      `json:"timezone"`
	Overlap   string      `json:"overlap"`
	Paused    bool        `json:"paused"`
	Next      []time.Time `json:"next_fires"`
	LastFire  *time.Time  `json:"last_fire"`
	LastJob   *struct {
		ID     string `json:"job_id"`
		Status string `json:"status"`
	} `json:"last_job"`
}

func scheduleMain(ctx context.Context, args []string, env func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		scheduleUsage(stderr)
		return exitUsage
	}
	if a := args[0]; a == "-h" || a == "--help" || a == "help" {
		scheduleUsage(stderr)
		return exitOK
	}
	sub := args[0]
	nargs := map[string]int{"ls": 0, "pause": 1, "resume": 1}
	want, ok := nargs[sub]
	if !ok {
		fmt.Fprintf(stderr, "avtomatika schedule: unknown command %q\n", sub)
		scheduleUsage(stderr)
		return exitUsage
	}
	name := "avtomatika schedule " + sub
	fl := flag.NewFlagSet(name, flag.ContinueOnError)
	fl.SetOutput(stderr)
	urlDefault, ok := env("AVTOMATIKA_URL")
	if !ok || urlDefault == "" {
		urlDefault = "http://localhost:8080"
	}
	tokenDefault, _ := env("CLIENT_TOKEN")
	serverURL := fl.String("url", urlDefault, "server URL ($AVTOMATIKA_URL)")
	token := fl.String("token", tokenDefault, "client token, sent as X-Client-Token ($CLIENT_TOKEN)")
	asJSON := fl.Bool("json", false, "print JSON")
	next := fl.Int("next", 1, "fire times to show per schedule (ls)")
	pos, err := parseInterleaved(fl, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	if len(pos) != want {
		fmt.Fprintf(stderr, "%s: want %d argument(s), got %d\n", name, want, len(pos))
		return exitUsage
	}
	base, err := url.Parse(strings.TrimRight(*serverURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		fmt.Fprintf(stderr, "%s: --url %q: want http(s)://host:port\n", name, *serverURL)
		return exitUsage
	}
	if *next < 0 || *next > 100 {
		fmt.Fprintf(stderr, "%s: --next: want 0 to 100\n", name)
		return exitUsage
	}
	method, path := http.MethodGet, fmt.Sprintf("/api/v1/schedules?next=%d", *next)
	if sub != "ls" {
		method, path = http.MethodPost, "/api/v1/schedules/"+url.PathEscape(pos[0])+"/"+sub
	}
	req, err := http.NewRequestWithContext(ctx, method, base.String()+path, nil)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitUsage
	}
	if *token != "" {
		req.Header.Set("X-Client-Token", *token)
	}
	req.Header.Set("User-Agent", "avtomatika-cli")
	hc := &http.Client{Timeout: 30 * time.Second}
	resp, err := hc.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return exitFindings
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		fmt.Fprintf(stderr, "%s: read the answer: %v\n", name, err)
		return exitFindings
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			msg = e.Error.Message
		}
		fmt.Fprintf(stderr, "%s: %s: %s\n", name, resp.Status, msg)
		if *asJSON {
			stdout.Write(body)
		}
		return exitFindings
	}
	if *asJSON {
		stdout.Write(body)
		return exitOK
	}
	var list []scheduleView
	if sub == "ls" {
		var v struct {
			Schedules []scheduleView `json:"schedules"`
		}
		if err := json.Unmarshal(body, &v); err != nil {
			fmt.Fprintf(stderr, "%s: the answer is not a schedule list: %v\n", name, err)
			return exitFindings
		}
		list = v.Schedules
	} else {
		var v scheduleView
		if err := json.Unmarshal(body, &v); err != nil {
			fmt.Fprintf(stderr, "%s: the answer is not a schedule: %v\n", name, err)
			return exitFindings
		}
		list = []scheduleView{v}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tBLUEPRINT\tTRIGGER\tTZ\tOVERLAP\tSTATE\tNEXT\tLAST JOB")
	for _, s := range list {
		state := "active"
		if s.Paused {
			state = "paused"
		}
		nexts := make([]string, 0, len(s.Next))
		for _, t := range s.Next {
			nexts = append(nexts, t.UTC().Format(time.RFC3339))
		}
		nx := strings.Join(nexts, ",")
		if nx == "" {
			nx = "-"
		}
		last := "-"
		if s.LastJob != nil {
			last = s.LastJob.ID
			if s.LastJob.Status != "" {
				last += " (" + s.LastJob.Status + ")"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Blueprint, s.Trigger, s.TimeZone, s.Overlap, state, nx, last)
	}
	tw.Flush()
	return exitOK
}
