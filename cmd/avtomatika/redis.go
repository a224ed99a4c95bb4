package main

import (
	"context"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
)

// openRedis opens the Redis store the environment names (REDIS_URL,
// REDIS_ADDRS with REDIS_MASTER_NAME, or REDIS_HOST/REDIS_PORT/REDIS_DB).
func openRedis(ctx context.Context, _ config.Config, lookup config.Lookup) (store.Store, error) {
	rc, err := redisstore.FromEnv(lookup)
	if err != nil {
		return nil, err
	}
	return redisstore.Open(ctx, rc)
}
