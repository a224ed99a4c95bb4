package redisstore

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// Config selects and reaches a Redis deployment. Exactly one way is used,
// in this order: URL (one server), Addrs with MasterName (Sentinel), Addrs
// without MasterName (Cluster when there are several, one server when
// there is one), Host/Port/DB (one server).
type Config struct {
	// URL is redis://[user:password@]host:port/db or rediss:// (TLS).
	URL string
	// Addrs are host:port pairs: Sentinels when MasterName is set, else
	// Cluster nodes.
	Addrs      []string
	MasterName string
	// Host, Port and DB reach one server (PROTOCOL.md §2.1).
	Host string
	Port int
	DB   int
	// Username and Password authenticate with Addrs or Host (a URL
	// carries its own).
	Username string
	Password string
	// Prefix starts every key; default "avt". Instances that share jobs
	// use the same prefix.
	Prefix string
}

// Enabled reports whether the configuration names a Redis at all (else
// the runtime uses the memory store).
func (c Config) Enabled() bool {
	return c.URL != "" || len(c.Addrs) > 0 || c.Host != ""
}

// FromEnv reads REDIS_URL, REDIS_ADDRS (comma-separated), REDIS_MASTER_NAME,
// REDIS_HOST, REDIS_PORT (default 6379), REDIS_DB (default 0),
// REDIS_USERNAME, REDIS_PASSWORD and REDIS_PREFIX (default "avt") through
// lookup (os.LookupEnv in production). An invalid value is an error naming
// the variable.
func FromEnv(lookup func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	c := Config{
		URL:        get("REDIS_URL"),
		MasterName: get("REDIS_MASTER_NAME"),
		Host:       get("REDIS_HOST"),
		Port:       6379,
		Username:   get("REDIS_USERNAME"),
		Password:   get("REDIS_PASSWORD"),
		Prefix:     get("REDIS_PREFIX"),
	}
	if c.URL != "" {
		if _, err := redis.ParseURL(c.URL); err != nil {
			return Config{}, fmt.Errorf("REDIS_URL: %v (want redis://host:port/db or rediss://...)", err)
		}
	}
	if s := get("REDIS_ADDRS"); s != "" {
		for a := range strings.SplitSeq(s, ",") {
			a = strings.TrimSpace(a)
			if a == "" {
				continue
			}
			if _, _, err := net.SplitHostPort(a); err != nil {
				return Config{}, fmt.Errorf("REDIS_ADDRS: %q is not host:port: %v", a, err)
			}
			c.Addrs = append(c.Addrs, a)
		}
	}
	if c.MasterName != "" && len(c.Addrs) == 0 {
		return Config{}, fmt.Errorf("REDIS_MASTER_NAME is set but REDIS_ADDRS (the Sentinel addresses) is empty")
	}
	if s := get("REDIS_PORT"); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 || p > 65535 {
			return Config{}, fmt.Errorf("REDIS_PORT: %q is not a port number (1-65535)", s)
		}
		c.Port = p
	}
	if s := get("REDIS_DB"); s != "" {
		d, err := strconv.Atoi(s)
		if err != nil || d < 0 {
			return Config{}, fmt.Errorf("REDIS_DB: %q is not a database number (0 or more)", s)
		}
		c.DB = d
	}
	if c.Prefix != "" && strings.ContainsAny(c.Prefix, "{}") {
		return Config{}, fmt.Errorf("REDIS_PREFIX: %q must not contain { or }", c.Prefix)
	}
	return c, nil
}

// NewClient builds the go-redis client the configuration names.
func (c Config) NewClient() (redis.UniversalClient, error) {
	switch {
	case c.URL != "":
		opt, err := redis.ParseURL(c.URL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		return redis.NewClient(opt), nil
	case len(c.Addrs) > 0:
		opt := &redis.UniversalOptions{Addrs: c.Addrs, MasterName: c.MasterName, DB: c.DB,
			Username: c.Username, Password: c.Password}
		if c.MasterName == "" && len(c.Addrs) > 1 {
			return redis.NewClusterClient(opt.Cluster()), nil
		}
		return redis.NewUniversalClient(opt), nil
	case c.Host != "":
		return redis.NewClient(&redis.Options{Addr: net.JoinHostPort(c.Host, strconv.Itoa(c.Port)), DB: c.DB,
			Username: c.Username, Password: c.Password}), nil
	}
	return nil, fmt.Errorf("redis: no REDIS_URL, REDIS_ADDRS or REDIS_HOST configured")
}
