package main

import (
	"context"
	"errors"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// openRedis opens the Redis store named by the configuration.
func openRedis(ctx context.Context, cfg config.Config) (store.Store, error) {
	return nil, errors.New("the Redis store is not built into this binary yet; unset REDIS_URL to use the embedded store")
}
