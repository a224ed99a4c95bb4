package schedule_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/internal/proctest"
	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
)

const tickBlueprint = `name: tick
start: done
schedule: {every: 1s, input: {from: schedule}}
states:
  done: {end: success}
`

// untilSecond sleeps until d past the next whole second: when every
// instance wakes for a fire of an @every 1s schedule.
func untilSecond(d time.Duration) {
	now := time.Now()
	time.Sleep(now.Truncate(time.Second).Add(time.Second + d).Sub(now))
}

// Three `avtomatika serve` processes on one Redis fire a schedule every
// second; two of them are killed with SIGKILL just as a fire is due. Every
// fire from the first to the last has exactly one job.
func TestThreeProcessesOneJobPerFire(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the avtomatika binary")
	}
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	bin := proctest.Build(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tick.yaml"), []byte(tickBlueprint), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"REDIS_URL=" + srv.URL, "REDIS_PREFIX=" + prefix, "LOG_LEVEL=info"}
	ps := []*proctest.Proc{proctest.Start(t, bin, dir, env...), proctest.Start(t, bin, dir, env...), proctest.Start(t, bin, dir, env...)}
	time.Sleep(3 * time.Second)
	// Killed at the instant of a fire: the three race for it, and the
	// killed one may have created the job and not recorded the fire.
	for _, i := range []int{0, 1} {
		untilSecond(time.Duration(i) * time.Millisecond)
		ps[i].Kill()
		time.Sleep(2 * time.Second)
	}
	time.Sleep(2 * time.Second)

	// The survivor lists the schedule with its next fires and last job.
	resp, err := http.Get(ps[2].URL + "/api/v1/schedules")
	if err != nil {
		t.Fatal(err)
	}
	var ls struct {
		Schedules []struct {
			Name    string      `json:"name"`
			Next    []time.Time `json:"next_fires"`
			LastJob *struct {
				ID     string `json:"job_id"`
				Status string `json:"status"`
			} `json:"last_job"`
		} `json:"schedules"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ls)
	resp.Body.Close()
	if err != nil || len(ls.Schedules) != 1 || ls.Schedules[0].Name != "tick" || len(ls.Schedules[0].Next) != 3 ||
		ls.Schedules[0].LastJob == nil || ls.Schedules[0].LastJob.Status != "finished" {
		t.Fatalf("GET /api/v1/schedules: %+v %v", ls, err)
	}
	out, err := exec.Command(bin, "schedule", "ls", "--url", ps[2].URL).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "tick") || !strings.Contains(string(out), "@every 1s") || !strings.Contains(string(out), "(finished)") {
		t.Fatalf("avtomatika schedule ls: %v\n%s", err, out)
	}
	ps[2].Kill()

	st, err := redisstore.Open(context.Background(), redisstore.Config{URL: srv.URL, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	jobs, err := st.ListJobs(context.Background(), store.ListParams{Limit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	byFire := map[int64]int{}
	var first, last int64
	for _, j := range jobs {
		at, err := time.Parse(time.RFC3339Nano, j.Metadata["scheduled_at"].(string))
		if err != nil {
			t.Fatal(err)
		}
		s := at.Unix()
		byFire[s]++
		if first == 0 || s < first {
			first = s
		}
		if s > last {
			last = s
		}
	}
	if last-first < 8 {
		t.Fatalf("fires from %d to %d: the schedule hardly ran", first, last)
	}
	for s := first; s <= last; s++ {
		if byFire[s] != 1 {
			t.Errorf("fire %s: %d jobs, want 1", time.Unix(s, 0).UTC().Format(time.TimeOnly), byFire[s])
		}
	}
	if t.Failed() {
		for _, p := range ps {
			t.Logf("%s:\n%s", p.URL, p.Output())
		}
	}
	t.Logf("%d fires, each with one job, over three instances of which two were killed", last-first+1)
}
