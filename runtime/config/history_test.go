package config

import (
	"strings"
	"testing"
	"time"
)

func TestHistoryConfig(t *testing.T) {
	c, err := FromEnv(env(map[string]string{}))
	if err != nil || c.HistoryURI != "" || c.JobRetention != DefaultJobRetention {
		t.Fatalf("defaults: %q %v %v", c.HistoryURI, c.JobRetention, err)
	}
	c, err = FromEnv(env(map[string]string{"HISTORY_DATABASE_URI": "sqlite:///h.db", "JOB_RETENTION": "90m"}))
	if err != nil || c.HistoryURI != "sqlite:///h.db" || c.JobRetention != 90*time.Minute {
		t.Fatalf("set: %q %v %v", c.HistoryURI, c.JobRetention, err)
	}
	if c.ArchiveBacklog != DefaultArchiveBacklog {
		t.Errorf("HISTORY_ARCHIVE_BACKLOG default %d; want %d", c.ArchiveBacklog, DefaultArchiveBacklog)
	}
	for v, want := range map[string]int{"0": 0, "1000": 1000} {
		c, err = FromEnv(env(map[string]string{"HISTORY_ARCHIVE_BACKLOG": v}))
		if err != nil || c.ArchiveBacklog != want {
			t.Errorf("HISTORY_ARCHIVE_BACKLOG=%s: %d %v; want %d", v, c.ArchiveBacklog, err, want)
		}
	}
	for _, v := range []string{"-1", "lots", "1e6"} {
		_, err = FromEnv(env(map[string]string{"HISTORY_ARCHIVE_BACKLOG": v}))
		if err == nil || !strings.Contains(err.Error(), "HISTORY_ARCHIVE_BACKLOG") {
			t.Errorf("HISTORY_ARCHIVE_BACKLOG=%s: %v; want an error naming it", v, err)
		}
	}
	for v, want := range map[string]time.Duration{"3600": time.Hour, "0": time.Nanosecond, "0s": time.Nanosecond, "1.5": 1500 * time.Millisecond} {
		c, err = FromEnv(env(map[string]string{"JOB_RETENTION": v}))
		if err != nil || c.JobRetention != want {
			t.Errorf("JOB_RETENTION=%s: %v %v; want %v", v, c.JobRetention, err, want)
		}
	}
	for _, v := range []string{"soon", "-1h", "-5", "100000h"} {
		_, err = FromEnv(env(map[string]string{"JOB_RETENTION": v}))
		if err == nil || !strings.Contains(err.Error(), "JOB_RETENTION") {
			t.Errorf("JOB_RETENTION=%s: %v; want an error naming it", v, err)
		}
	}
}
