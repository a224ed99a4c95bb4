package bench

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisInfo returns the named fields of an INFO section of the Redis at
// url; a field it cannot read is "".
func redisInfo(ctx context.Context, url, section string, fields ...string) []string {
	out := make([]string, len(fields))
	opt, err := redis.ParseURL(url)
	if err != nil {
		return out
	}
	c := redis.NewClient(opt)
	defer c.Close()
	info, err := c.Info(ctx, section).Result()
	if err != nil {
		return out
	}
	for _, l := range strings.Split(info, "\n") {
		name, v, ok := strings.Cut(strings.TrimSpace(l), ":")
		if i := slices.Index(fields, name); ok && i >= 0 {
			out[i] = v
		}
	}
	return out
}

func redisVersion(ctx context.Context, url string) string {
	return redisInfo(ctx, url, "server", "redis_version")[0]
}

// redisCPU is the Redis server's CPU time so far (user and system, every
// thread); 0 when it cannot be read.
func redisCPU(ctx context.Context, url string) time.Duration {
	var sum float64
	for _, v := range redisInfo(ctx, url, "cpu", "used_cpu_user", "used_cpu_sys") {
		f, _ := strconv.ParseFloat(v, 64)
		sum += f
	}
	return time.Duration(sum * float64(time.Second))
}

// cleanRedis deletes the keys of the bench's own prefix, nothing else.
func cleanRedis(url, prefix string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return
	}
	c := redis.NewClient(opt)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := c.Scan(ctx, 0, "{"+prefix+"}*", 1000).Iterator()
	var batch []string
	for it.Next(ctx) {
		batch = append(batch, it.Val())
		if len(batch) == 500 {
			c.Unlink(ctx, batch...)
			batch = batch[:0]
		}
	}
	if len(batch) > 0 {
		c.Unlink(ctx, batch...)
	}
}

// usedMemory is the Redis server's used_memory; 0 when on is false or it
// cannot be read.
func usedMemory(ctx context.Context, url string, on bool) int64 {
	if !on {
		return 0
	}
	n, _ := strconv.ParseInt(redisInfo(ctx, url, "memory", "used_memory")[0], 10, 64)
	return n
}
