package history_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite"

	"github.com/avtomatika-ai/avtomatika-go/internal/proctest"
	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
)

// A serve process with its history on SQLite and its jobs on Redis is
// killed with SIGKILL right after an archive transaction committed, while
// the jobs it wrote are still in the outbox (the live store has not heard
// of the commit). A restarted process archives the outbox again: every
// job that was created is in the history exactly once, with its timeline
// once, and the outbox empties.
func TestHistorySurvivesKillAfterArchiveCommit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the avtomatika binary")
	}
	ctx := context.Background()
	srv := redistest.Start(t, redistest.Options{})
	prefix := srv.Fresh(t)
	bin := proctest.Build(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "quick.yaml"), []byte("name: quick\nendpoint: /jobs/quick\nstart: done\nstates:\n  done: {end: success}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "history.db")
	env := []string{"REDIS_URL=" + srv.URL, "REDIS_PREFIX=" + prefix, "HISTORY_DATABASE_URI=sqlite:///" + dbPath, "JOB_RETENTION=0", "LOG_LEVEL=warn"}

	ropt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(ropt)
	defer rdb.Close()
	live, err := redisstore.Open(ctx, redisstore.Config{URL: srv.URL, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	outboxKey := "{" + prefix + "}:ob"

	var mu sync.Mutex
	created := map[string]bool{}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
	// load creates jobs (each ends at once) from 8 clients until stop.
	load := func(url string, stop <-chan struct{}) *sync.WaitGroup {
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := hc.Post(url+"/api/v1/jobs/quick", "application/json", strings.NewReader(`{"initial_data": {}}`))
					if err != nil {
						continue
					}
					var acc struct {
						JobID string `json:"job_id"`
					}
					json.NewDecoder(resp.Body).Decode(&acc)
					resp.Body.Close()
					if resp.StatusCode/100 == 2 && acc.JobID != "" {
						mu.Lock()
						created[acc.JobID] = true
						mu.Unlock()
					}
				}
			}()
		}
		return &wg
	}

	var hist *sql.DB
	openHist := func() {
		if hist != nil {
			return
		}
		hist, err = sql.Open("sqlite", "file:"+dbPath+"?_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { hist.Close() })
	}
	var hit bool
	var overlap, pending int
	for attempt := 1; attempt <= 20 && !hit; attempt++ {
		p := proctest.Start(t, bin, dir, env...)
		openHist()
		stop := make(chan struct{})
		wg := load(p.URL, stop)
		// Wait for an archive commit (the last row grows), then kill at
		// once: the archiver marks its jobs archived in Redis only after
		// the commit, so the kill lands between the two when it is
		// faster than that step.
		var last, seen int64
		hist.QueryRow(`SELECT COALESCE(max(rowid), 0) FROM history_jobs`).Scan(&last)
		killed := false
		deadline := time.Now().Add(20 * time.Second)
		for !killed {
			if time.Now().After(deadline) {
				t.Fatalf("no archive commit within 20 s: %s", p.Output())
			}
			if err := hist.QueryRow(`SELECT COALESCE(max(rowid), 0) FROM history_jobs`).Scan(&seen); err != nil {
				continue // a checkpoint under way
			}
			mu.Lock()
			n := len(created)
			mu.Unlock()
			if seen > last && n >= 300*attempt {
				p.Kill() // SIGKILL
				killed = true
			}
			last = seen
		}
		close(stop)
		wg.Wait()
		// Redis holds the state of the kill's moment: the outbox, and
		// those of its jobs the archive had already committed.
		nob, err := rdb.ZCard(ctx, outboxKey).Result()
		if err != nil {
			t.Fatal(err)
		}
		jobs, err := live.PendingArchive(ctx, 1_000_000)
		if err != nil {
			t.Fatal(err)
		}
		overlap = 0
		for _, e := range jobs {
			var one int
			if hist.QueryRow(`SELECT count(*) FROM history_jobs WHERE id = ?`, e.Job.ID).Scan(&one); one == 1 {
				overlap++
			}
		}
		pending = int(nob)
		t.Logf("kill %d: outbox %d jobs, %d of them committed to the archive", attempt, nob, overlap)
		hit = nob > 0 && overlap > 0
	}
	if !hit {
		t.Fatalf("no kill of 20 landed between an archive commit and the outbox update (last: outbox %d, committed %d)", pending, overlap)
	}

	// The restart archives the outbox again; nothing doubles, nothing is
	// lost.
	p := proctest.Start(t, bin, dir, env...)
	mu.Lock()
	want := len(created)
	mu.Unlock()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		nob, _ := rdb.ZCard(ctx, outboxKey).Result()
		if nob == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox still holds %d jobs a minute after the restart: %s", nob, p.Output())
		}
	}
	var missing []string
	for id := range created {
		var n int
		if err := hist.QueryRow(`SELECT count(*) FROM history_jobs WHERE id = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d created jobs are not in the history once: %v", len(missing), want, missing[:min(5, len(missing))])
	}
	// Each job once, and each job's timeline once: every job of this
	// blueprint has the same events.
	var rows, ids, minEv, maxEv int
	hist.QueryRow(`SELECT count(*), count(DISTINCT id) FROM history_jobs`).Scan(&rows, &ids)
	hist.QueryRow(`SELECT min(c), max(c) FROM (SELECT count(*) c FROM history_events GROUP BY job_id)`).Scan(&minEv, &maxEv)
	if rows != ids || rows < want {
		t.Fatalf("history: %d rows for %d job ids; %d jobs were created", rows, ids, want)
	}
	if minEv != maxEv || minEv == 0 {
		t.Fatalf("events per job range from %d to %d; want the same for every job", minEv, maxEv)
	}
	t.Logf("%d jobs created, %d archived once each, %d events each", want, rows, minEv)
}
