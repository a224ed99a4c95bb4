package storetest

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/avtomatika-ai/avtomatika-go/runtime/core"
	"github.com/avtomatika-ai/avtomatika-go/runtime/store"
)

// ExerciseStores runs the cases of blueprint key-value stores and machine
// versions.
func ExerciseStores(t *testing.T, newStore func(t *testing.T) store.Store) {
	run(t, newStore, []testCase{
		{"NamedStores", testNamedStores},
		{"Versions", testVersions},
	})
}

func testNamedStores(t *testing.T, s store.Store) {
	ctx := context.Background()
	if err := s.SeedStores(ctx, "bp", map[string]map[string]any{"counts": {"n": float64(1), "m": float64(2)}, "empty": nil}); err != nil {
		t.Fatal(err)
	}
	create(t, s, newJob("j1", "c1"), &core.Effects{StoreWrites: []core.StoreWrite{
		{Blueprint: "bp", Store: "counts", Key: "n", Value: float64(5)},
		{Blueprint: "bp", Store: "fresh", Key: "x", Value: map[string]any{"y": true}},
	}})
	// Seeding again leaves existing stores alone.
	if err := s.SeedStores(ctx, "bp", map[string]map[string]any{"counts": {"n": float64(0)}, "other": {"z": "z"}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Stores(ctx, "bp")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{
		"counts": {"n": float64(5), "m": float64(2)},
		"empty":  {},
		"fresh":  {"x": map[string]any{"y": true}},
		"other":  {"z": "z"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stores (-want +got):\n%s", d)
	}
	if other, _ := s.Stores(ctx, "bp2"); len(other) != 0 {
		t.Errorf("another blueprint's stores: %v, want none", other)
	}
}

func testVersions(t *testing.T, s store.Store) {
	ctx := context.Background()
	v := store.Version{Hash: "abc", File: "a.yaml", Sources: map[string][]byte{"a.yaml": []byte("name: a\n"), "lib.star": []byte("x = 1\n")}}
	if err := s.PutVersion(ctx, v); err != nil {
		t.Fatal(err)
	}
	if err := s.PutVersion(ctx, store.Version{Hash: "abc", File: "other.yaml"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Version(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(&v, got); d != "" {
		t.Errorf("version (-want +got):\n%s", d)
	}
	_, err = s.Version(ctx, "zzz")
	wantErr(t, "unknown version", err, store.ErrNotFound)
}
