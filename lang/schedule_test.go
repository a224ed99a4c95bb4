package lang

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestScheduleBlock(t *testing.T) {
	src := `name: report
start: a
schedule:
  cron: "30 0 3 * * *"
  timezone: Europe/Berlin
  input: {day: yesterday}
  overlap: queue
  catch_up: 3
states:
  a: {end: success}
`
	set, ds := LoadFS(fstest.MapFS{"report.yaml": {Data: []byte(src)}})
	if ds.HasErrors() {
		t.Fatal(ds)
	}
	m := set.Lookup("report")
	if len(m.Schedules) != 1 {
		t.Fatalf("schedules: %v", m.Schedules)
	}
	s := m.Schedules[0]
	if s.Name != "report" || s.Cron != "30 0 3 * * *" || s.TimeZone != "Europe/Berlin" || s.Overlap != OverlapQueue || s.CatchUp != 3 || s.Input["day"] != "yesterday" {
		t.Fatalf("schedule: %+v", s)
	}
	loc, err := LoadLocation(s.TimeZone)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCron(s.Cron, loc)
	if err != nil {
		t.Fatal(err)
	}
	// 03:00:30 in Berlin is 02:00:30 UTC in winter.
	got := c.Next(time.Date(2026, 1, 10, 0, 0, 0, 0, time.UTC))
	if want := time.Date(2026, 1, 10, 2, 0, 30, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("next fire %v, want %v", got, want)
	}
}

func TestEverySchedule(t *testing.T) {
	c, err := ParseCron("@every 90s", nil)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1000, 0).UTC()
	if got := c.Next(at); got.Unix() != 1080 {
		t.Fatalf("next %v", got.Unix())
	}
	if got := c.Next(time.Unix(1080, 0)); got.Unix() != 1170 {
		t.Fatalf("next after a fire %v", got.Unix())
	}
	for _, bad := range []string{"@every", "@every 0s", "@every 1500ms", "@every soon", "TZ=UTC 0 * * * *", "61 * * * *"} {
		if _, err := ParseCron(bad, nil); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseCron(f *testing.F) {
	for _, s := range []string{"0 3 * * *", "*/5 * * * * *", "@daily", "@every 15m", "0 0 1 1 *", "TZ=UTC 1 * * * *"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCron(s, nil)
		if err != nil {
			return
		}
		at := time.Unix(1_700_000_000, 0).UTC()
		if n := c.Next(at); !n.IsZero() && !n.After(at) {
			t.Fatalf("%q: next %v not after %v", s, n, at)
		}
	})
}
