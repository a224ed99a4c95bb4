package main

import (
	"context"
	"fmt"
	"io"
)

func runLint(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "avtomatika lint: not built yet")
	return exitUsage
}
