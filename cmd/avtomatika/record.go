package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/lang"
	"github.com/avtomatika-ai/avtomatika-go/runtime/bptest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
)

// historyFlags are the flags of `job history`: --as-test writes a
// blueprint test case that replays the job instead of its timeline.
func historyFlags(fl *flag.FlagSet) func(*jobRun) error {
	asTest := fl.Bool("as-test", false, "print a blueprint test (NAME_test.yaml) with one case that replays the job")
	input := fl.String("input", "", "with --as-test: the job's initial_data as a JSON object (the API does not show it)")
	return func(r *jobRun) error {
		r.asTest = *asTest
		if *input != "" {
			if !*asTest {
				return errors.New("--input needs --as-test")
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(*input), &m); err != nil || m == nil {
				return errors.New("--input: want a JSON object")
			}
			r.input = json.RawMessage(*input)
		}
		return nil
	}
}

// jobHistoryAsTest reads the job and its timeline and prints a test file.
func jobHistoryAsTest(ctx context.Context, r *jobRun) int {
	j, err := r.c.Get(ctx, r.args[0])
	if err != nil {
		return r.fail(err)
	}
	evs, err := r.c.History(ctx, j.ID)
	if err != nil {
		return r.fail(err)
	}
	rec := bptest.Recording{JobID: j.ID, Blueprint: j.Blueprint, Status: string(j.Status), State: j.State, History: j.Result}
	if j.Error != nil {
		rec.ErrorCode = j.Error.Code
	}
	if len(r.input) > 0 {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(r.input))
		d.UseNumber()
		if err := d.Decode(&m); err == nil {
			rec.Input = lang.FromJSON(m).(map[string]any)
		}
	}
	if rec.History != nil {
		rec.History = lang.FromJSON(rec.History).(map[string]any)
	}
	for _, e := range evs {
		detail, _ := lang.FromJSON(e.Detail).(map[string]any)
		rec.Events = append(rec.Events, core.TimelineEvent{
			At: time.UnixMicro(int64(e.Timestamp * 1e6)).UTC(), Type: e.Type, State: e.State, PrevState: e.PreviousState,
			NextState: e.NextState, TaskID: e.TaskID, WorkerID: e.WorkerID, Attempt: e.Attempt, Detail: detail,
		})
	}
	out, err := bptest.Record(rec, bptest.CaseName(j.ID))
	if err != nil {
		return r.fail(fmt.Errorf("write the test: %w", err))
	}
	_, _ = r.stdout.Write(out)
	return exitOK
}
