package console

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

func step(tr *tracker, id, client, state string, status wire.JobStatus, at time.Time) {
	tr.observe(&core.Job{ID: id, Blueprint: "bp", State: state, Status: status, Client: core.Client{Name: client}, UpdatedAt: at})
}

func TestTrackerFollowsNothingUntilUsed(t *testing.T) {
	tr := newTracker(nil)
	step(tr, "j", "", "s", wire.StatusRunning, time.Unix(0, 0))
	if len(tr.active) != 0 || len(tr.names) != 0 {
		t.Errorf("an unused console followed a job: %v", tr.active)
	}
	tr.seed()
	step(tr, "j", "", "s", wire.StatusRunning, time.Unix(0, 0))
	if len(tr.active) != 1 {
		t.Errorf("a used console does not follow the job")
	}
}

func TestTrackerCountsAndTimesInState(t *testing.T) {
	tr := newTracker(nil)
	tr.seed()
	t0 := time.Unix(1_000, 0)
	// Ten jobs of client a stay 1..10 s in "check", then wait in "approve";
	// one job of client b stays 100 s in "check".
	for i := 1; i <= 10; i++ {
		id := fmt.Sprint("a", i)
		step(tr, id, "a", "check", wire.StatusWaitingForWorker, t0)
		step(tr, id, "a", "check", wire.StatusWaitingForWorker, t0.Add(time.Duration(i)*time.Second/2)) // progress: no move
		step(tr, id, "a", "approve", wire.StatusWaitingForHuman, t0.Add(time.Duration(i)*time.Second))
	}
	step(tr, "b1", "b", "check", wire.StatusWaitingForWorker, t0)
	step(tr, "b1", "b", "approve", wire.StatusWaitingForHuman, t0.Add(100*time.Second))
	step(tr, "b2", "b", "check", wire.StatusWaitingForWorker, t0)
	// One of a's jobs ends: it leaves approve after 5 s.
	step(tr, "a1", "a", "done", wire.StatusFinished, t0.Add(6*time.Second))

	all := tr.stats("", true)["bp"]
	if all.Running != 11 || all.States["approve"].Count != 10 || all.States["check"].Count != 1 {
		t.Fatalf("all clients: running %d, approve %+v, check %+v", all.Running, all.States["approve"], all.States["check"])
	}
	if c := all.States["check"]; c.Samples != 11 || c.P50ms != 6000 || c.P95ms != 100_000 {
		t.Errorf("check over every client: %+v; want 11 stays, p50 6 s, p95 100 s", c)
	}
	if _, ok := all.States["done"]; ok {
		t.Errorf("an end state is counted: %+v", all.States["done"])
	}
	a := tr.stats("a", false)["bp"]
	if c := a.States["check"]; a.Running != 9 || c.Count != 0 || c.Samples != 10 || c.P50ms != 5000 || c.P95ms != 10_000 {
		t.Errorf("client a: running %d, check %+v; want 9 running, none in check, p50 5 s, p95 10 s", a.Running, c)
	}
	if ap := a.States["approve"]; ap.Count != 9 || ap.Samples != 1 || ap.P50ms != 5000 {
		t.Errorf("client a approve: %+v", ap)
	}
	if got := tr.inState("b", false, "bp", "check", 10); len(got) != 1 || got[0].ID != "b2" {
		t.Errorf("b's jobs in check: %+v", got)
	}
	if got := tr.inState("", true, "bp", "approve", 3); len(got) != 3 || got[0].ID != "a2" {
		t.Errorf("the 3 longest in approve: %+v; want a2 first (there since 2 s)", got)
	}
}

func TestTrackerRingKeepsTheLatestStays(t *testing.T) {
	tr := newTracker(nil)
	tr.seed()
	t0 := time.Unix(0, 0)
	for i := range ringSize + 100 {
		id := fmt.Sprint(i)
		step(tr, id, "", "s", wire.StatusRunning, t0)
		d := time.Second
		if i >= 100 { // the first 100 stays are long, then forgotten
			d = time.Millisecond
		}
		step(tr, id, "", "end", wire.StatusFinished, t0.Add(d))
	}
	s := tr.stats("", true)["bp"].States["s"]
	if s.Samples != ringSize || s.P95ms != 1 {
		t.Errorf("%+v: want the latest %d stays, p95 1 ms", s, ringSize)
	}
	if len(tr.active) != 0 || len(tr.counts) != 0 {
		t.Errorf("ended jobs are still followed: %d active, %d counts", len(tr.active), len(tr.counts))
	}
}

func TestTrackerPushesFilteredBatches(t *testing.T) {
	tr := newTracker(nil)
	tr.seed()
	sa := tr.subscribe("a")
	all := tr.subscribe("")
	defer tr.unsubscribe(sa)
	defer tr.unsubscribe(all)
	t0 := time.Unix(0, 0)
	step(tr, "j1", "a", "s", wire.StatusRunning, t0)
	step(tr, "j1", "a", "t", wire.StatusRunning, t0) // coalesced with the first
	step(tr, "j2", "b", "s", wire.StatusRunning, t0)
	type batch struct {
		Jobs []struct {
			ID, State string
		}
		Count  int
		Resync bool
	}
	read := func(s *subscriber) batch {
		select {
		case b := <-s.ch:
			var out batch
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			return out
		case <-time.After(5 * time.Second):
			t.Fatal("no batch")
		}
		return batch{}
	}
	if b := read(sa); b.Count != 1 || len(b.Jobs) != 1 || b.Jobs[0].ID != "j1" || b.Jobs[0].State != "t" {
		t.Errorf("a's batch: %+v; want j1 once, in t", b)
	}
	if b := read(all); b.Count != 2 || len(b.Jobs) != 2 {
		t.Errorf("the open batch: %+v; want j1 and j2", b)
	}
	// A burst larger than a batch arrives as a count and a resync.
	for i := range maxBatch + 1 {
		step(tr, fmt.Sprint("x", i), "a", "s", wire.StatusRunning, t0)
	}
	if b := read(sa); !b.Resync || b.Count != maxBatch+1 || len(b.Jobs) != 0 {
		t.Errorf("a burst: resync %v, count %d, %d jobs; want a resync of %d", b.Resync, b.Count, len(b.Jobs), maxBatch+1)
	}
	read(all)
	// A feed that does not read misses batches; its next one says resync.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; !sa.missed.Load(); i++ {
		if time.Now().After(deadline) {
			t.Fatal("the feed never missed a batch")
		}
		step(tr, "y", "a", fmt.Sprint("s", i), wire.StatusRunning, t0)
		time.Sleep(20 * time.Millisecond)
	}
	for len(sa.ch) > 0 {
		<-sa.ch
	}
	step(tr, "z", "a", "s", wire.StatusRunning, t0)
	if b := read(sa); !b.Resync {
		t.Errorf("after missed batches: %+v; want a resync", b)
	}
}
