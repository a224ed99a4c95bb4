package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/avtomatika-ai/avtomatika-go/runtime/config"
	"github.com/avtomatika-ai/avtomatika-go/runtime/history"
)

// openHistory opens the history database of HISTORY_DATABASE_URI, or of
// --data DIR (DIR/history.db) when the variable is unset; nil when
// neither is given.
func openHistory(ctx context.Context, cfg *config.Config, dataDir string) (*history.DB, error) {
	if dataDir != "" {
		abs, err := filepath.Abs(dataDir)
		if err != nil {
			return nil, fmt.Errorf("--data %s: %v", dataDir, err)
		}
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return nil, fmt.Errorf("--data %s: %v", dataDir, err)
		}
		if cfg.HistoryURI == "" {
			cfg.HistoryURI = "sqlite:///" + filepath.ToSlash(filepath.Join(abs, "history.db"))
		}
	}
	if cfg.HistoryURI == "" {
		return nil, nil
	}
	h, err := history.Open(ctx, cfg.HistoryURI)
	if err != nil {
		return nil, fmt.Errorf("HISTORY_DATABASE_URI: %v", err)
	}
	return h, nil
}
