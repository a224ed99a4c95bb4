package lang

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"
)

// Schedule is one entry of a blueprint's schedule: block: when jobs of the
// blueprint start by themselves. The orchestrator runs it (runtime/schedule);
// the language only checks it.
type Schedule struct {
	// Name is the schedule's name: the blueprint's name, or the entry's
	// name key ("<blueprint>.<name>").
	Name string
	// Cron is the trigger as written: a cron expression (five fields, or
	// six with seconds first, or a descriptor such as @daily) or "@every
	// <duration>".
	Cron string
	// TimeZone is an IANA time zone name; "" is UTC.
	TimeZone string
	// Input is the new job's initial_data.
	Input map[string]any
	// Overlap is skip, queue or allow.
	Overlap string
	// CatchUp is how many fires missed while no instance ran are run
	// when one starts again: 0 (none), 1 (latest) or N.
	CatchUp int
	// Pos is where the entry is written.
	Pos Pos
}

// Overlap policies of a schedule.
const (
	OverlapSkip  = "skip"
	OverlapQueue = "queue"
	OverlapAllow = "allow"
)

// MaxCatchUp bounds how many missed fires a schedule may catch up.
const MaxCatchUp = 1000

var scheduleKeys = []string{"catch_up", "cron", "every", "input", "name", "overlap", "timezone"}

// cronParser reads five fields, or six with seconds first, and the
// descriptors (@yearly, @monthly, @weekly, @daily, @hourly).
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseCron checks a cron expression or "@every <duration>" and returns
// its schedule in loc (UTC when nil). An @every interval is a whole number
// of seconds, at least one, counted from the Unix epoch so that every
// instance computes the same fire times.
func ParseCron(expr string, loc *time.Location) (cron.Schedule, error) {
	expr = strings.TrimSpace(expr)
	if loc == nil {
		loc = time.UTC
	}
	if rest, ok := strings.CutPrefix(expr, "@every"); ok {
		d, err := ParseDuration(strings.TrimSpace(rest))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q: want @every and a duration such as 90s or 5m", expr)
		}
		if d < time.Second || d%time.Second != 0 {
			return nil, fmt.Errorf("%q: an interval is a whole number of seconds, at least 1s", expr)
		}
		return EverySchedule(d), nil
	}
	if strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ=") {
		return nil, fmt.Errorf("%q: give the time zone in its own key, not in the expression", expr)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("%q: %v", expr, err)
	}
	if ss, ok := s.(*cron.SpecSchedule); ok {
		ss.Location = loc
	}
	return s, nil
}

// EverySchedule fires at the multiples of an interval since the Unix epoch.
type EverySchedule time.Duration

// Next is the first multiple strictly after t.
func (e EverySchedule) Next(t time.Time) time.Time {
	d := int64(e)
	n := t.UnixNano()
	q := n / d
	if n < 0 && n%d != 0 {
		q--
	}
	return time.Unix(0, (q+1)*d).In(t.Location())
}

// LoadLocation loads an IANA time zone ("" and "UTC" are UTC).
func LoadLocation(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || strings.HasPrefix(err.Error(), "unknown time zone") {
			return nil, fmt.Errorf("unknown time zone %q: want an IANA name such as Europe/Berlin", name)
		}
		return nil, fmt.Errorf("time zone %q: %v", name, err)
	}
	return loc, nil
}

// ParseCatchUp reads a catch-up policy: none (0), latest (1) or a number
// of missed fires from 0 to MaxCatchUp.
func ParseCatchUp(s string) (int, error) {
	switch s {
	case "", "none":
		return 0, nil
	case "latest":
		return 1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > MaxCatchUp {
		return 0, fmt.Errorf("catch_up %q: want none, latest or a number of runs from 0 to %d", s, MaxCatchUp)
	}
	return n, nil
}

// schedules reads the schedule: block: one mapping or a list of them.
func (l *loader) schedules(n *yaml.Node) {
	var entries []*yaml.Node
	switch n.Kind {
	case yaml.SequenceNode:
		for _, e := range n.Content {
			entries = append(entries, deref(e))
		}
	default:
		entries = []*yaml.Node{n}
	}
	names := map[string]bool{}
	for _, e := range entries {
		s := l.schedule(e, len(entries) > 1)
		if s == nil {
			continue
		}
		if names[s.Name] {
			l.errf(e, RuleBadSchedule, "two schedules of the blueprint are named %q; give each its own name", s.Name)
			continue
		}
		names[s.Name] = true
		l.m.Schedules = append(l.m.Schedules, s)
	}
}

func (l *loader) schedule(n *yaml.Node, several bool) *Schedule {
	s := &Schedule{Name: l.m.Name, Overlap: OverlapSkip, Pos: l.pos(n)}
	var trig, tz *yaml.Node
	ok := true
	kvs := l.pairs(n, "schedule", scheduleKeys)
	if n.Kind != yaml.MappingNode {
		return nil
	}
	hasName := false
	for _, kv := range kvs {
		k, v := kv[0].Value, kv[1]
		switch k {
		case "name":
			if name, good := l.str(v, "schedule.name"); good {
				if !nameRE.MatchString(name) {
					l.errf(v, RuleBadSchedule, "schedule name %q must match [a-z0-9_]+", name)
					ok = false
				}
				s.Name = l.m.Name + "." + name
				hasName = true
			}
		case "cron", "every":
			if trig != nil {
				l.errf(kv[0], RuleBadSchedule, "a schedule has one trigger: cron or every, not both")
				ok = false
				continue
			}
			trig = v
			if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
				l.errf(v, RuleBadSchedule, "schedule.%s must be a string, not %s", k, kindName(v))
				ok = false
				continue
			}
			s.Cron = v.Value
			if k == "every" {
				s.Cron = "@every " + v.Value
			}
		case "timezone":
			if name, good := l.str(v, "schedule.timezone"); good {
				s.TimeZone, tz = name, v
			}
		case "input":
			if v.Kind != yaml.MappingNode {
				l.errf(v, RuleWrongType, "schedule.input must be a mapping, not %s", kindName(v))
				ok = false
				continue
			}
			var val any
			if err := v.Decode(&val); err != nil {
				l.errf(v, RuleWrongType, "schedule.input: %v", err)
				ok = false
				continue
			}
			s.Input, _ = FromJSON(jsonify(val)).(map[string]any)
		case "overlap":
			if o, good := l.str(v, "schedule.overlap"); good {
				switch o {
				case OverlapSkip, OverlapQueue, OverlapAllow:
					s.Overlap = o
				default:
					l.errf(v, RuleBadSchedule, "overlap %q: want skip, queue or allow", o)
					ok = false
				}
			}
		case "catch_up":
			if v.Kind != yaml.ScalarNode {
				l.errf(v, RuleBadSchedule, "catch_up must be none, latest or a number, not %s", kindName(v))
				ok = false
				continue
			}
			c, err := ParseCatchUp(v.Value)
			if err != nil {
				l.errf(v, RuleBadSchedule, "%v", err)
				ok = false
				continue
			}
			s.CatchUp = c
		}
	}
	if several && !hasName {
		l.errf(n, RuleBadSchedule, "a blueprint with several schedules names each (name: nightly)")
		ok = false
	}
	if trig == nil {
		l.errf(n, RuleBadSchedule, "a schedule needs a trigger: cron (such as \"0 3 * * *\") or every (such as 15m)")
		return nil
	}
	loc := time.UTC
	if tz != nil {
		var err error
		if loc, err = LoadLocation(s.TimeZone); err != nil {
			l.errf(tz, RuleBadSchedule, "%v", err)
			ok = false
		}
	}
	if s.Cron != "" {
		if _, err := ParseCron(s.Cron, loc); err != nil {
			l.errf(trig, RuleBadSchedule, "bad schedule: %v", err)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return s
}
