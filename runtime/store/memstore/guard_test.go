package memstore

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// Reservations expire with their ttl, and past MaxReservations live keys
// Reserve refuses until some expire.
func TestReservationsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	m := New(Options{Clock: func() time.Time { return now }, MaxReservations: 1000})
	ctx := context.Background()
	for i := range 1000 {
		if _, first, err := m.Reserve(ctx, fmt.Sprint("k", i), "v", time.Minute); err != nil || !first {
			t.Fatalf("reserve %d: %v, %v", i, first, err)
		}
	}
	if _, _, err := m.Reserve(ctx, "one-too-many", "v", time.Minute); !errors.Is(err, store.ErrFull) {
		t.Fatalf("reserve past the bound: %v, want ErrFull", err)
	}
	if _, first, _ := m.Reserve(ctx, "k1", "v2", time.Minute); first {
		t.Error("a live key was reserved again")
	}
	now = now.Add(time.Minute)
	if _, first, err := m.Reserve(ctx, "k1", "v2", time.Minute); err != nil || !first {
		t.Fatalf("reserve of an expired key: %v, %v; want first", first, err)
	}
	if len(m.reserved.m) > 1 {
		t.Errorf("%d keys held after the others expired, want 1", len(m.reserved.m))
	}
}
