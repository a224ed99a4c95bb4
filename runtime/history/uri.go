package history

import (
	"fmt"
	"net/url"
	"strings"
)

// Target is where a history database lives, parsed from
// HISTORY_DATABASE_URI.
type Target struct {
	// Driver is "sqlite" or "postgres".
	Driver string
	// Path is the SQLite file (relative to the working directory unless
	// absolute); ":memory:" keeps it in memory.
	Path string
	// DSN is the PostgreSQL connection URL (postgres://…).
	DSN string
}

// ParseURI reads a history database URI in the forms of the Python
// orchestrator (SQLAlchemy's): sqlite:////abs/path.db (an absolute path),
// sqlite:///relative.db, sqlite:relative.db, sqlite:///:memory:, and
// postgresql://user:pass@host:5432/db?sslmode=disable (also postgres:// and
// a driver suffix such as postgresql+asyncpg:// or sqlite+aiosqlite://,
// which is ignored).
func ParseURI(uri string) (Target, error) {
	scheme, rest, ok := strings.Cut(uri, ":")
	if !ok || scheme == "" {
		return Target{}, fmt.Errorf("history database %q: want sqlite:///path.db or postgresql://host/db", uri)
	}
	base, _, _ := strings.Cut(strings.ToLower(scheme), "+")
	switch base {
	case "sqlite":
		var path string
		switch {
		case strings.HasPrefix(rest, "//"):
			// sqlite://<host>/<path>: SQLAlchemy takes no host, so the
			// path is what follows the third slash; a fourth makes it
			// absolute.
			after := rest[2:]
			if after != "" && !strings.HasPrefix(after, "/") {
				return Target{}, fmt.Errorf("history database %q: sqlite takes no host; write sqlite:///relative.db or sqlite:////absolute/path.db", uri)
			}
			path = strings.TrimPrefix(after, "/")
		default:
			path = rest
		}
		if i := strings.IndexByte(path, '?'); i >= 0 {
			return Target{}, fmt.Errorf("history database %q: sqlite takes no query parameters", uri)
		}
		if path == "" {
			return Target{}, fmt.Errorf("history database %q: no file named; write sqlite:///history.db", uri)
		}
		return Target{Driver: "sqlite", Path: path}, nil
	case "postgresql", "postgres":
		u, err := url.Parse("postgres:" + rest)
		if err != nil || !strings.HasPrefix(rest, "//") {
			// The URI may hold a password: it is not repeated.
			return Target{}, fmt.Errorf("history database: the %s URI is not a URL of the form postgresql://user@host:5432/database", scheme)
		}
		return Target{Driver: "postgres", DSN: u.String()}, nil
	}
	return Target{}, fmt.Errorf("history database %s: unknown scheme %q; want sqlite or postgresql", Redact(uri), scheme)
}

// Redact hides the password of a database URI, for logs and errors.
func Redact(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || u.User == nil {
		return uri
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// String describes the target without a password.
func (t Target) String() string {
	if t.Driver == "sqlite" {
		return "sqlite " + t.Path
	}
	return "postgresql " + Redact(t.DSN)
}
