package wire

import (
	"encoding/json"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestDeps keeps the package a leaf: it imports the standard library only.
func TestDeps(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep != "github.com/avtomatika-ai/avtomatika-go/sdk/wire" {
			t.Errorf("sdk/wire depends on %s", dep)
		}
	}
}

func TestJobStatusTerminal(t *testing.T) {
	t.Parallel()
	for s, want := range map[JobStatus]bool{
		StatusPending: false, StatusRunning: false, StatusWaitingForWorker: false,
		StatusWaitingForHuman: false, StatusWaitingParallel: false, StatusWaitingForChild: false,
		StatusWaiting: false, StatusAwaitingRetry: false,
		StatusFinished: true, StatusFailed: true, StatusCancelled: true, StatusQuarantined: true, StatusError: true,
		"something_new": false,
	} {
		if got := s.Terminal(); got != want {
			t.Errorf("%s.Terminal() = %v, want %v", s, got, want)
		}
		if got := s.Succeeded(); got != (s == StatusFinished) {
			t.Errorf("%s.Succeeded() = %v", s, got)
		}
	}
}

func TestStrategies(t *testing.T) {
	t.Parallel()
	got := Strategies()
	want := []string{"best_value", "cheapest", "default", "least_connections", "round_robin"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Strategies() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if Strategies()[0] != "best_value" {
		t.Error("Strategies() shares its slice with the caller")
	}
}

func TestTimestampDecoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    Timestamp
		wantErr bool
	}{
		{in: `1767225601`, want: 1767225601},
		{in: `1767225601.987`, want: 1767225601},
		{in: `1.767225601e9`, want: 1767225601},
		{in: `null`, want: 0},
		{in: `"1767225601"`, wantErr: true},
		{in: `true`, wantErr: true},
	} {
		var ts Timestamp
		err := json.Unmarshal([]byte(tc.in), &ts)
		if (err != nil) != tc.wantErr || ts != tc.want {
			t.Errorf("%s: got %d, %v; want %d, error %v", tc.in, ts, err, tc.want, tc.wantErr)
		}
	}
	if b, _ := json.Marshal(Timestamp(1767225601)); string(b) != "1767225601" {
		t.Errorf("encodes %s", b)
	}
}

func TestNamesDecoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      string
		want    Names
		wantErr bool
	}{
		{name: "strings", in: `["a","b"]`, want: Names{"a", "b"}},
		{name: "skill objects", in: `[{"name":"a","version":"1"},"b"]`, want: Names{"a", "b"}},
		{name: "empty", in: `[]`, want: Names{}},
		{name: "null", in: `null`, want: nil},
		{name: "not a list", in: `"a"`, wantErr: true},
		{name: "number", in: `[1]`, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var n Names
			err := json.Unmarshal([]byte(tc.in), &n)
			if (err != nil) != tc.wantErr || (!tc.wantErr && !reflect.DeepEqual(n, tc.want)) {
				t.Errorf("got %q, %v; want %q, error %v", n, err, tc.want, tc.wantErr)
			}
		})
	}
	b, _ := json.Marshal(Heartbeat{WorkerID: "w", Status: WorkerIdle, HotSkills: Names{"a"}})
	if want := `{"worker_id":"w","status":"idle","current_tasks":null,"hot_skills":["a"],"timestamp":0}`; string(b) != want {
		t.Errorf("heartbeat encodes\n %s\nwant\n %s", b, want)
	}
}

// A heartbeat of the Python SDK 1.0b13: float timestamp, skill objects in
// hot_skills, members we do not know.
func TestHeartbeatLenient(t *testing.T) {
	t.Parallel()
	in := `{"worker_id":"w-1","status":"busy","current_tasks":["t"],"hot_skills":[{"name":"ocr"}],` +
		`"hot_cache":["m"],"skill_dependencies":{},"timestamp":1767225601.5}`
	var hb Heartbeat
	if err := json.Unmarshal([]byte(in), &hb); err != nil {
		t.Fatal(err)
	}
	want := Heartbeat{WorkerID: "w-1", Status: WorkerBusy, CurrentTasks: []string{"t"}, HotSkills: Names{"ocr"}, Timestamp: 1767225601}
	if !reflect.DeepEqual(hb, want) {
		t.Errorf("got %+v\nwant %+v", hb, want)
	}
}

func TestResultLenient(t *testing.T) {
	t.Parallel()
	in := `{"job_id":"j","task_id":"t","status":"failure","error":{"code":"TRANSIENT_ERROR","message":"m","details":{"n":1},"trace":"x"},` +
		`"policy":{},"timestamp":1767225601.25}`
	var r Result
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	want := Result{JobID: "j", TaskID: "t", Status: ResultFailure, Timestamp: 1767225601,
		Error: &Error{Code: CodeTransientError, Message: "m", Details: map[string]any{"n": 1.0}}}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}
}

func TestJobViewDecoding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		in   string
		want JobView
	}{
		{
			name: "ours",
			in: `{"id":"j","job_id":"j","status":"finished","blueprint_name":"b","blueprint_version":"h","current_state":"done",` +
				`"result":{"x":1},"created_at":100,"updated_at":101,"finished_at":102}`,
			want: JobView{ID: "j", JobID: "j", Status: StatusFinished, Blueprint: "b", BlueprintVersion: "h", State: "done",
				Result: map[string]any{"x": 1.0}, CreatedAt: 100, UpdatedAt: 101, FinishedAt: 102},
		},
		{
			name: "python compact view",
			in:   `{"job_id":"j","status":"failed","blueprint_name":"b","context_snapshot":{},"error_message":"boom"}`,
			want: JobView{ID: "j", JobID: "j", Status: StatusFailed, Blueprint: "b", Error: &Error{Message: "boom"}},
		},
		{
			name: "float times",
			in:   `{"id":"j","status":"running","created_at":100.9,"updated_at":1.01e2}`,
			want: JobView{ID: "j", JobID: "j", Status: StatusRunning, CreatedAt: 100, UpdatedAt: 101},
		},
		{
			name: "error object wins over error_message",
			in:   `{"id":"j","status":"quarantined","error":{"code":"PERMANENT_ERROR","message":"m"},"error_message":"other"}`,
			want: JobView{ID: "j", JobID: "j", Status: StatusQuarantined, Error: &Error{Code: CodePermanentError, Message: "m"}},
		},
		{
			name: "current tasks and approval, numbers as floats",
			in: `{"id":"j","status":"waiting_for_parallel_tasks","current_tasks":[{"task_id":"t1","type":"x","state":"running","attempt":2.0,` +
				`"worker_id":"w","lease_deadline":200.5,"item":1.0,"extra":true},{"task_id":"t2","type":"x","state":"queued","attempt":1}],` +
				`"approval":{"message":"ok?","choices":["approved","rejected"],"deadline":300.0},"child_job_ids":["c1","c2"]}`,
			want: JobView{ID: "j", JobID: "j", Status: StatusWaitingParallel, CurrentTasks: []CurrentTask{
				{TaskID: "t1", Type: "x", State: TaskStateRunning, Attempt: 2, WorkerID: "w", LeaseDeadline: 200, Item: ptr(1)},
				{TaskID: "t2", Type: "x", State: TaskStateQueued, Attempt: 1}},
				Approval:    &Approval{Message: "ok?", Choices: []string{"approved", "rejected"}, Deadline: 300},
				ChildJobIDs: []string{"c1", "c2"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var v JobView
			if err := json.Unmarshal([]byte(tc.in), &v); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(v, tc.want) {
				t.Errorf("got %+v\nwant %+v", v, tc.want)
			}
		})
	}
	var v JobView
	if err := json.Unmarshal([]byte(`{"id":"j","created_at":"yesterday"}`), &v); err == nil {
		t.Error("accepted a string as created_at")
	}
}

func ptr[T any](v T) *T { return &v }

// What the server sends: every member it always sends, in order.
func TestJobViewEncoding(t *testing.T) {
	t.Parallel()
	v := JobView{ID: "j", JobID: "j", Status: StatusWaitingForWorker, Blueprint: "b", BlueprintVersion: "h", State: "s",
		TaskIDs: []string{"t"}, CreatedAt: 100, UpdatedAt: 101}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":"j","job_id":"j","status":"waiting_for_worker","blueprint_name":"b","blueprint_version":"h",` +
		`"current_state":"s","current_task_ids":["t"],"created_at":100,"updated_at":101}`
	if string(b) != want {
		t.Errorf("encodes\n %s\nwant\n %s", b, want)
	}
	if got := v.Created(); !got.Equal(time.Unix(100, 0)) {
		t.Errorf("Created() = %v", got)
	}
	if got := v.Finished(); !got.IsZero() {
		t.Errorf("Finished() = %v, want zero", got)
	}
}
