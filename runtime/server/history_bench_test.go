package server

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
)

// benchOptions, when set, adjusts the options of benchServer.
var benchOptions func(b *testing.B, o *Options)

// BenchmarkSingleTaskJobsHistory is BenchmarkSingleTaskJobs with every
// ended job archived to SQLite (JOB_RETENTION 0: each leaves the memory
// store once archived). Goal: within 10% of BenchmarkSingleTaskJobs in
// the same run.
func BenchmarkSingleTaskJobsHistory(b *testing.B) {
	benchOptions = func(b *testing.B, o *Options) {
		h, err := history.Open(context.Background(), "sqlite:///"+filepath.Join(b.TempDir(), "h.db"))
		if err != nil {
			b.Fatal(err)
		}
		o.History = h
		o.Config.JobRetention = 1 // 1 ns: removed once archived
	}
	defer func() { benchOptions = nil }()
	BenchmarkSingleTaskJobs(b)
}
