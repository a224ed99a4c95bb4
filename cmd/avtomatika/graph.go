package main

import (
	"context"
	"fmt"
	"io"
)

func runGraph(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "avtomatika graph: not built yet")
	return exitUsage
}
