package redisstore_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   redisstore.Config
		client string // type of the client NewClient builds
	}{
		{"none", nil, redisstore.Config{Port: 6379}, ""},
		{"url", map[string]string{"REDIS_URL": "rediss://u:p@h:6380/2", "REDIS_PREFIX": "x"},
			redisstore.Config{URL: "rediss://u:p@h:6380/2", Port: 6379, Prefix: "x"}, "*redis.Client"},
		{"sentinel", map[string]string{"REDIS_ADDRS": "s1:26379, s2:26379", "REDIS_MASTER_NAME": "mymaster"},
			redisstore.Config{Addrs: []string{"s1:26379", "s2:26379"}, MasterName: "mymaster", Port: 6379}, "*redis.Client"},
		{"cluster", map[string]string{"REDIS_ADDRS": "n1:7000,n2:7001,n3:7002"},
			redisstore.Config{Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}, Port: 6379}, "*redis.ClusterClient"},
		{"host", map[string]string{"REDIS_HOST": "r", "REDIS_PORT": "6390", "REDIS_DB": "3", "REDIS_PASSWORD": "pw"},
			redisstore.Config{Host: "r", Port: 6390, DB: 3, Password: "pw"}, "*redis.Client"},
		// One address without a master name is a plain server, not a
		// cluster of one.
		{"one address", map[string]string{"REDIS_ADDRS": "n1:7000"},
			redisstore.Config{Addrs: []string{"n1:7000"}, Port: 6379}, "*redis.Client"},
		{"lowest port, database 0", map[string]string{"REDIS_HOST": "r", "REDIS_PORT": "1", "REDIS_DB": "0"},
			redisstore.Config{Host: "r", Port: 1}, "*redis.Client"},
		{"highest port", map[string]string{"REDIS_HOST": "r", "REDIS_PORT": "65535"},
			redisstore.Config{Host: "r", Port: 65535}, "*redis.Client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := redisstore.FromEnv(env(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Fatalf("config (-want +got):\n%s", d)
			}
			if got.Enabled() != (tc.client != "") {
				t.Fatalf("Enabled() = %v", got.Enabled())
			}
			if tc.client == "" {
				return
			}
			c, err := got.NewClient()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			typ := ""
			switch c.(type) {
			case *redis.Client:
				typ = "*redis.Client"
			case *redis.ClusterClient:
				typ = "*redis.ClusterClient"
			}
			if typ != tc.client {
				t.Fatalf("client %T, want %s", c, tc.client)
			}
		})
	}
}

func TestFromEnvErrorsNameTheVariable(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"REDIS_URL": "http://x"}, "REDIS_URL"},
		{map[string]string{"REDIS_ADDRS": "nohostport"}, "REDIS_ADDRS"},
		{map[string]string{"REDIS_MASTER_NAME": "m"}, "REDIS_MASTER_NAME"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "x"}, "REDIS_PORT"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "70000"}, "REDIS_PORT"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "65536"}, "REDIS_PORT"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_PORT": "0"}, "REDIS_PORT"},
		{map[string]string{"REDIS_HOST": "h", "REDIS_DB": "-1"}, "REDIS_DB"},
		{map[string]string{"REDIS_PREFIX": "a{b}"}, "REDIS_PREFIX"},
	} {
		_, err := redisstore.FromEnv(env(tc.env))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("env %v: error %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
