package history

import (
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	good := []struct{ uri, driver, path, dsn string }{
		{"sqlite:////var/lib/avt/history.db", "sqlite", "/var/lib/avt/history.db", ""},
		{"sqlite:///history.db", "sqlite", "history.db", ""},
		{"sqlite:///data/history.db", "sqlite", "data/history.db", ""},
		{"sqlite:history.db", "sqlite", "history.db", ""},
		{"sqlite+aiosqlite:///h.db", "sqlite", "h.db", ""},
		{"sqlite:///:memory:", "sqlite", ":memory:", ""},
		{"postgresql://u:p@db:5432/avt?sslmode=disable", "postgres", "", "postgres://u:p@db:5432/avt?sslmode=disable"},
		{"postgres://db/avt", "postgres", "", "postgres://db/avt"},
		{"postgresql+asyncpg://u@db/avt", "postgres", "", "postgres://u@db/avt"},
	}
	for _, g := range good {
		tg, err := ParseURI(g.uri)
		if err != nil || tg.Driver != g.driver || tg.Path != g.path || tg.DSN != g.dsn {
			t.Errorf("ParseURI(%q) = %+v, %v; want %s %q %q", g.uri, tg, err, g.driver, g.path, g.dsn)
		}
	}
	bad := []struct{ uri, says string }{
		{"", "want sqlite"},
		{"history.db", "want sqlite"},
		{"mysql://db/x", `unknown scheme "mysql"`},
		{"sqlite://host/x.db", "takes no host"},
		{"sqlite:///", "no file named"},
		{"sqlite:///x.db?mode=ro", "no query parameters"},
		{"postgresql:db", "not a URL"},
		{"postgresql://u:secret@db:bad/x", "not a URL"},
	}
	for _, b := range bad {
		_, err := ParseURI(b.uri)
		if err == nil || !strings.Contains(err.Error(), b.says) {
			t.Errorf("ParseURI(%q) = %v; want an error saying %q", b.uri, err, b.says)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseURI(%q) repeats the password: %v", b.uri, err)
		}
	}
	if got := Redact("postgresql://u:secret@db/x"); strings.Contains(got, "secret") {
		t.Errorf("Redact kept the password: %s", got)
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"sqlite:////a/b.db", "sqlite:x.db", "postgresql://u:p@h/d", "sqlite://", "postgres:%zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		tg, err := ParseURI(uri)
		if err != nil {
			if strings.Contains(uri, ":secret@") && strings.Contains(err.Error(), "secret") {
				t.Fatalf("error repeats a password: %v", err)
			}
			return
		}
		switch tg.Driver {
		case "sqlite":
			if tg.Path == "" {
				t.Fatalf("%q: sqlite without a path", uri)
			}
		case "postgres":
			if !strings.HasPrefix(tg.DSN, "postgres://") {
				t.Fatalf("%q: dsn %q", uri, tg.DSN)
			}
		default:
			t.Fatalf("%q: driver %q", uri, tg.Driver)
		}
	})
}
