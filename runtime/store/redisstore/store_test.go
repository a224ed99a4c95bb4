package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/avtomatika-ai/avtomatika-go/internal/redistest"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/redisstore"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store/storetest"
)

// open returns a store on srv under a fresh prefix, closed with the test.
func open(t testing.TB, srv *redistest.Server) *redisstore.Store {
	t.Helper()
	return openPrefix(t, srv, srv.Fresh(t))
}

func openPrefix(t testing.TB, srv *redistest.Server, prefix string) *redisstore.Store {
	t.Helper()
	return openOpts(t, srv, redisstore.Options{Prefix: prefix})
}

func openOpts(t testing.TB, srv *redistest.Server, o redisstore.Options) *redisstore.Store {
	t.Helper()
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := redisstore.New(ctx, redis.NewClient(opt), redisstore.Options{Prefix: o.Prefix, Recheck: o.Recheck, OwnsClient: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{})
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, srv) })
}
