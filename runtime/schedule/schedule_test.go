package schedule

import (
	"strings"
	"testing"
	"time"
)

func TestParseTOML(t *testing.T) {
	src := `# Python orchestrator format
[hourly]
blueprint = "report"
interval_seconds = 3600
input_data = {kind = "hourly"}
dispatch_timeout = 30

[morning]
blueprint = "report"
daily_at = "09:30"

[weekdays]
blueprint = "report"
weekly_days = ["mon", "fri"]
time = "18:05"
metadata = {team = "ops"}

[payday]
blueprint = "report"
monthly_dates = [1, 15]
time = "00:00"

[berlin]
blueprint = "report"
cron = "0 30 8 * * *"
timezone = "Europe/Berlin"
overlap = "queue"
catch_up = "latest"
`
	specs, err := Parse("schedules.toml", []byte(src), "")
	if err != nil {
		t.Fatal(err)
	}
	from := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC) // a Monday
	want := map[string]struct {
		expr, source string
		next         time.Time
	}{
		"hourly":   {"@every 3600s", "schedules.toml:2", time.Date(2026, 1, 5, 1, 0, 0, 0, time.UTC)},
		"morning":  {"30 9 * * *", "schedules.toml:8", time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)},
		"weekdays": {"5 18 * * 1,5", "schedules.toml:12", time.Date(2026, 1, 5, 18, 5, 0, 0, time.UTC)},
		"payday":   {"0 0 1,15 * *", "schedules.toml:18", time.Date(2026, 1, 15, 0, 0, 0, 0, time.UTC)},
		"berlin":   {"0 30 8 * * *", "schedules.toml:23", time.Date(2026, 1, 5, 7, 30, 0, 0, time.UTC)},
	}
	if len(specs) != len(want) {
		t.Fatalf("%d specs", len(specs))
	}
	for _, s := range specs {
		w := want[s.Name]
		if s.Expr != w.expr || s.Source != w.source || !s.Next(from).Equal(w.next) {
			t.Errorf("%s: %q at %s next %v; want %q at %s next %v", s.Name, s.Expr, s.Source, s.Next(from), w.expr, w.source, w.next)
		}
	}
	if specs[0].Name != "hourly" || specs[0].Input["kind"] != "hourly" || specs[0].DispatchTimeout != 30*time.Second {
		t.Errorf("hourly: %+v", specs[0])
	}
	if b := specs[4]; b.Overlap != "queue" || b.CatchUp != 1 || b.TZ != "Europe/Berlin" {
		t.Errorf("berlin: %+v", b)
	}
}

func TestParseTOMLErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"[a]\nblueprint = \"x\"\n", `s.toml:1: schedule "a": missing trigger`},
		{"[a]\nblueprint = \"x\"\ncron = \"0 3 * *\"\n", `s.toml:3: schedule "a": cron: bad schedule: "0 3 * *": expected 5 to 6 fields, found 4`},
		{"[a]\nblueprint = \"x\"\ndaily_at = \"25:00\"\n", `s.toml:3: schedule "a": daily_at: "25:00": want HH:MM`},
		{"[a]\n\nblueprint = \"x\"\nweekly_days = [\"mon\"]\n", `s.toml:4: schedule "a": weekly_days needs time = "HH:MM"`},
		{"[a]\nblueprint = \"x\"\nevery = \"5m\"\n", `s.toml:3: schedule "a": every: unknown key`},
		{"[a]\nblueprint = \"x\"\ncron = \"@daily\"\ntimezone = \"Nowhere/City\"\n", `s.toml:4: schedule "a": timezone: unknown time zone "Nowhere/City"`},
		{"[a]\nblueprint = \"x\"\ninterval_seconds = 5\ndaily_at = \"03:00\"\n", `s.toml:4: schedule "a": daily_at: a schedule has one trigger`},
		{"[a]\nblueprint = \"x\"\ninterval_seconds = 5\noverlap = \"never\"\n", `s.toml:4: schedule "a": overlap: "never": want skip, queue or allow`},
		{"[a]\ninterval_seconds = 5\n", `s.toml:1: schedule "a": missing key blueprint`},
		{"[a\nblueprint = 1\n", `s.toml:2: expected`},
	} {
		_, err := Parse("s.toml", []byte(c.src), "")
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s...", c.src, err, c.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("[a]\nblueprint = \"x\"\ncron = \"0 3 * * *\"\n"))
	f.Add([]byte("[a]\nblueprint = \"x\"\nweekly_days = [\"mon\"]\ntime = \"10:00\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		specs, err := Parse("f.toml", data, "")
		if err != nil {
			return
		}
		for _, s := range specs {
			s.Next(time.Unix(0, 0))
		}
	})
}
