package memstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/memstore"
	"github.com/avtomatika-ai/avtomatika-go/sdk/wire"
)

// BenchmarkCreateToLease measures the time from the start of CreateJob
// (enqueueing one task) to a waiting poll returning it, with 50 idle polls.
func BenchmarkCreateToLease(b *testing.B) {
	const pollers = 50
	s := memstore.New(memstore.Options{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan time.Time, pollers)
	var wg sync.WaitGroup
	for i := range pollers {
		wg.Go(func() {
			for ctx.Err() == nil {
				tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: fmt.Sprint("w", i), Types: []string{"a"}, Now: time.Now(), Wait: time.Hour})
				if err != nil {
					b.Error(err)
					return
				}
				if tk != nil {
					got <- time.Now()
				}
			}
		})
	}
	for {
		st, _ := s.Stats(ctx)
		if st.Waiting == pollers {
			break
		}
		time.Sleep(time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		id := fmt.Sprint("j", i)
		start := time.Now()
		err := s.CreateJob(ctx, store.CommitParams{
			Job:     &core.Job{ID: id, Blueprint: "bp", Status: wire.StatusWaitingForWorker, Client: core.Client{Name: "c"}},
			Effects: &core.Effects{Enqueue: []*core.Task{{ID: "t" + id, JobID: id, Type: "a", Timeout: time.Minute}}},
		})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-got).Sub(start))
	}
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkJobCycle measures one single-task job through the store:
// create with its task, lease, commit the result.
func BenchmarkJobCycle(b *testing.B) {
	s := memstore.New(memstore.Options{})
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := fmt.Sprintf("w%p", pb)
		i := 0
		for pb.Next() {
			i++
			id := fmt.Sprint(w, "-", i)
			job := &core.Job{ID: id, Blueprint: "bp", Status: wire.StatusWaitingForWorker, Client: core.Client{Name: "c"},
				Input: map[string]any{"n": 1.0}}
			err := s.CreateJob(ctx, store.CommitParams{Job: job,
				Effects: &core.Effects{Enqueue: []*core.Task{{ID: "t" + id, JobID: id, Type: "a", Timeout: time.Minute,
					Params: map[string]any{"x": "y"}}}}})
			if err != nil {
				b.Fatal(err)
			}
			tk, err := s.Lease(ctx, store.LeaseParams{WorkerID: w, Types: []string{"a"}, Now: time.Now()})
			if err != nil || tk == nil {
				b.Fatalf("lease: %v %v", tk, err)
			}
			j, err := s.GetJob(ctx, tk.JobID)
			if err != nil {
				b.Fatal(err)
			}
			j.Status = wire.StatusFinished
			if _, err := s.CommitIfVersion(ctx, store.CommitParams{Job: j, ExpectRev: j.Rev,
				Complete: &store.TaskCompletion{TaskID: tk.ID, WorkerID: w}}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkRead measures the reads of a queued one-task job as the server
// commits it (see serverCreate): the job, its timeline, its task.
func BenchmarkRead(b *testing.B) {
	s := memstore.New(memstore.Options{})
	defer s.Close()
	ctx := context.Background()
	p := serverCreate("3b878613b1a560082fce727e799081bf48db8bab57e7a324a97c05069009dc09")
	if err := s.CreateJob(ctx, p); err != nil {
		b.Fatal(err)
	}
	id, tid := p.Job.ID, p.Effects.Enqueue[0].ID
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.GetJob(ctx, id); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Timeline(ctx, id); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Task(ctx, tid); err != nil {
			b.Fatal(err)
		}
	}
}
