// Package schedule starts jobs by themselves: each schedule's trigger (a
// cron expression with optional seconds, or an @every interval) in a time
// zone, its input, and what to do when a fire would overlap the previous
// job or when fires were missed while no instance ran.
//
// Schedules come from two places: a blueprint's schedule: block (lang
// checks it; FromSet reads it) and the schedules.toml file named by
// SCHEDULES_CONFIG_PATH (Parse, LoadFile), in the Python orchestrator's
// format plus cron, timezone, overlap and catch_up. The Runner fires them
// against an orchestrator; several instances on one store start exactly
// one job per fire (see store.Schedules).
package schedule

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/robfig/cron/v3"

	"github.com/avtomatika-ai/avtomatika-go/lang"
)

// Spec is one schedule.
type Spec struct {
	Name      string
	Blueprint string
	// Expr is the trigger as written (cron or "@every <d>"), TZ its time
	// zone ("" is UTC).
	Expr     string
	TZ       string
	Input    map[string]any
	Overlap  string // lang.OverlapSkip, OverlapQueue or OverlapAllow
	CatchUp  int    // missed fires run after downtime: 0 none, 1 latest, N
	Metadata map[string]any
	// DispatchTimeout and ResultTimeout apply to the jobs it starts.
	DispatchTimeout time.Duration
	ResultTimeout   time.Duration
	// Source is where the schedule is written (file:line).
	Source string

	sched cron.Schedule
}

// Next is the first fire time strictly after t.
func (s *Spec) Next(t time.Time) time.Time { return s.sched.Next(t).UTC() }

// NextN is the next n fire times after t.
func (s *Spec) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for range n {
		t = s.Next(t)
		if t.IsZero() {
			break
		}
		out = append(out, t)
	}
	return out
}

// compile parses the trigger in its time zone.
func (s *Spec) compile() error {
	loc, err := lang.LoadLocation(s.TZ)
	if err != nil {
		return err
	}
	if s.sched, err = lang.ParseCron(s.Expr, loc); err != nil {
		return fmt.Errorf("bad schedule: %w", err)
	}
	return nil
}

// equal reports whether two specs fire the same jobs the same way.
func (s *Spec) equal(o *Spec) bool {
	return s.Name == o.Name && s.Blueprint == o.Blueprint && s.Expr == o.Expr && s.TZ == o.TZ &&
		s.Overlap == o.Overlap && s.CatchUp == o.CatchUp && fmt.Sprint(s.Input) == fmt.Sprint(o.Input) &&
		fmt.Sprint(s.Metadata) == fmt.Sprint(o.Metadata) && s.DispatchTimeout == o.DispatchTimeout && s.ResultTimeout == o.ResultTimeout
}

// FromSet returns the schedules of a blueprint set's schedule: blocks.
func FromSet(set *lang.Set) []*Spec {
	var out []*Spec
	for _, m := range set.Machines {
		for _, b := range m.Schedules {
			s := &Spec{Name: b.Name, Blueprint: m.Name, Expr: b.Cron, TZ: b.TimeZone, Input: b.Input,
				Overlap: b.Overlap, CatchUp: b.CatchUp, Source: fmt.Sprintf("%s:%d", b.Pos.File, b.Pos.Line)}
			if s.compile() != nil {
				continue // lint refused the set already
			}
			out = append(out, s)
		}
	}
	return out
}

// LoadFile reads schedules.toml; defaultTZ (the TZ variable) applies to
// entries without a timezone key.
func LoadFile(path, defaultTZ string) ([]*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, defaultTZ)
}

var hhmm = regexp.MustCompile(`^([01]?[0-9]|2[0-3]):([0-5][0-9])$`)

var weekdays = map[string]string{"mon": "1", "tue": "2", "wed": "3", "thu": "4", "fri": "5", "sat": "6", "sun": "0",
	"monday": "1", "tuesday": "2", "wednesday": "3", "thursday": "4", "friday": "5", "saturday": "6", "sunday": "0"}

var tomlKeys = []string{"blueprint", "input_data", "interval_seconds", "daily_at", "weekly_days", "monthly_dates", "time",
	"cron", "timezone", "overlap", "catch_up", "dispatch_timeout", "result_timeout", "security", "metadata"}

// Parse reads schedules.toml text: one table per schedule, named by the
// table. Every error names name:line.
func Parse(name string, data []byte, defaultTZ string) ([]*Spec, error) {
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", name, pe.Position.Line, pe.Message)
		}
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	_ = md
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []*Spec
	var errs []error
	for _, n := range names {
		s, err := parseEntry(name, data, n, raw[n], defaultTZ)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Slice(out, func(i, j int) bool { return lineOf(out[i].Source) < lineOf(out[j].Source) })
	return out, nil
}

func lineOf(src string) int {
	i := strings.LastIndexByte(src, ':')
	n, _ := strconv.Atoi(src[i+1:])
	return n
}

func parseEntry(file string, data []byte, name string, v any, defaultTZ string) (*Spec, error) {
	tableLine := findLine(data, name, "")
	at := func(key string) string {
		if key == "" {
			return fmt.Sprintf("%s:%d", file, tableLine)
		}
		return fmt.Sprintf("%s:%d", file, findLine(data, name, key))
	}
	t, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: schedule %q: want a table ([%s] with blueprint = \"...\"), got %T", at(""), name, name, v)
	}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: schedule %q: %s: %s", at(key), name, key, fmt.Sprintf(format, args...))
	}
	for k := range t {
		found := false
		for _, known := range tomlKeys {
			found = found || k == known
		}
		if !found {
			return nil, bad(k, "unknown key; valid keys: %s", strings.Join(tomlKeys, ", "))
		}
	}
	s := &Spec{Name: name, Overlap: lang.OverlapSkip, TZ: defaultTZ, Source: at("")}
	str := func(key string) (string, bool, error) {
		x, ok := t[key]
		if !ok {
			return "", false, nil
		}
		v, isStr := x.(string)
		if !isStr || v == "" {
			return "", true, bad(key, "want a non-empty string")
		}
		return v, true, nil
	}
	var err error
	var has bool
	if s.Blueprint, has, err = str("blueprint"); err != nil {
		return nil, err
	} else if !has {
		return nil, fmt.Errorf("%s: schedule %q: missing key blueprint", at(""), name)
	}
	if x, ok := t["input_data"]; ok {
		if s.Input, ok = x.(map[string]any); !ok {
			return nil, bad("input_data", "want a table")
		}
		s.Input, _ = lang.FromJSON(s.Input).(map[string]any)
	}
	if x, ok := t["metadata"]; ok {
		if s.Metadata, ok = x.(map[string]any); !ok {
			return nil, bad("metadata", "want a table")
		}
	}
	if tz, has, err := str("timezone"); err != nil {
		return nil, err
	} else if has {
		s.TZ = tz
	}
	if o, has, err := str("overlap"); err != nil {
		return nil, err
	} else if has {
		switch o {
		case lang.OverlapSkip, lang.OverlapQueue, lang.OverlapAllow:
			s.Overlap = o
		default:
			return nil, bad("overlap", "%q: want skip, queue or allow", o)
		}
	}
	if x, ok := t["catch_up"]; ok {
		c := fmt.Sprint(x)
		if s.CatchUp, err = lang.ParseCatchUp(c); err != nil {
			return nil, bad("catch_up", "%v", err)
		}
	}
	for _, k := range []string{"dispatch_timeout", "result_timeout"} {
		x, ok := t[k]
		if !ok {
			continue
		}
		var secs float64
		switch n := x.(type) {
		case int64:
			secs = float64(n)
		case float64:
			secs = n
		default:
			return nil, bad(k, "want a number of seconds")
		}
		if secs <= 0 || secs > 1e7 {
			return nil, bad(k, "want a positive number of seconds")
		}
		d := time.Duration(secs * float64(time.Second))
		if k == "dispatch_timeout" {
			s.DispatchTimeout = d
		} else {
			s.ResultTimeout = d
		}
	}
	// The trigger: one of cron, interval_seconds, daily_at, weekly_days
	// with time, monthly_dates with time.
	var trig []string
	for _, k := range []string{"cron", "interval_seconds", "daily_at", "weekly_days", "monthly_dates"} {
		if _, ok := t[k]; ok {
			trig = append(trig, k)
		}
	}
	if len(trig) != 1 {
		if len(trig) == 0 {
			return nil, fmt.Errorf("%s: schedule %q: missing trigger: one of cron, interval_seconds, daily_at, weekly_days (with time) or monthly_dates (with time)", at(""), name)
		}
		return nil, bad(trig[1], "a schedule has one trigger, not %s", strings.Join(trig, " and "))
	}
	key := trig[0]
	clock := func() (string, string, error) {
		tm, has, err := str("time")
		if err != nil {
			return "", "", err
		}
		if !has {
			return "", "", fmt.Errorf("%s: schedule %q: %s needs time = \"HH:MM\"", at(key), name, key)
		}
		m := hhmm.FindStringSubmatch(tm)
		if m == nil {
			return "", "", bad("time", "%q: want HH:MM", tm)
		}
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		return strconv.Itoa(h), strconv.Itoa(mi), nil
	}
	switch key {
	case "cron":
		if s.Expr, _, err = str("cron"); err != nil {
			return nil, err
		}
	case "interval_seconds":
		n, ok := t[key].(int64)
		if !ok || n < 1 {
			return nil, bad(key, "want a positive integer")
		}
		s.Expr = fmt.Sprintf("@every %ds", n)
	case "daily_at":
		d, _, err := str(key)
		if err != nil {
			return nil, err
		}
		m := hhmm.FindStringSubmatch(d)
		if m == nil {
			return nil, bad(key, "%q: want HH:MM", d)
		}
		h, _ := strconv.Atoi(m[1])
		mi, _ := strconv.Atoi(m[2])
		s.Expr = fmt.Sprintf("%d %d * * *", mi, h)
	case "weekly_days":
		list, ok := t[key].([]any)
		if !ok || len(list) == 0 {
			return nil, bad(key, "want a list of days such as [\"mon\", \"fri\"]")
		}
		var days []string
		for _, d := range list {
			ds, _ := d.(string)
			n, ok := weekdays[strings.ToLower(ds)]
			if !ok {
				return nil, bad(key, "%v: want mon, tue, wed, thu, fri, sat or sun", d)
			}
			days = append(days, n)
		}
		h, mi, err := clock()
		if err != nil {
			return nil, err
		}
		s.Expr = fmt.Sprintf("%s %s * * %s", mi, h, strings.Join(days, ","))
	case "monthly_dates":
		list, ok := t[key].([]any)
		if !ok || len(list) == 0 {
			return nil, bad(key, "want a list of days of the month such as [1, 15]")
		}
		var dates []string
		for _, d := range list {
			n, ok := d.(int64)
			if !ok || n < 1 || n > 31 {
				return nil, bad(key, "%v: want days from 1 to 31", d)
			}
			dates = append(dates, strconv.FormatInt(n, 10))
		}
		h, mi, err := clock()
		if err != nil {
			return nil, err
		}
		s.Expr = fmt.Sprintf("%s %s %s * *", mi, h, strings.Join(dates, ","))
	}
	if err := s.compile(); err != nil {
		k := key
		if strings.Contains(err.Error(), "time zone") {
			k = "timezone"
		}
		return nil, bad(k, "%v", err)
	}
	return s, nil
}

// findLine is the line of key within table name (or of the table's
// header when key is ""), 1-based; the header's line when the key is not
// found.
func findLine(data []byte, table, key string) int {
	lines := strings.Split(string(data), "\n")
	header := 0
	heads := []string{"[" + table + "]", "[" + strconv.Quote(table) + "]", "['" + table + "']"}
	for i, l := range lines {
		l = strings.TrimSpace(l)
		for _, h := range heads {
			if strings.HasPrefix(l, h) {
				header = i + 1
			}
		}
		if header > 0 {
			break
		}
	}
	if header == 0 || key == "" {
		return max(header, 1)
	}
	for i := header; i < len(lines); i++ {
		l := strings.TrimSpace(lines[i])
		if strings.HasPrefix(l, "[") && !strings.HasPrefix(l, "[[") {
			break
		}
		if strings.HasPrefix(l, key) && strings.HasPrefix(strings.TrimSpace(l[len(key):]), "=") {
			return i + 1
		}
	}
	return header
}
