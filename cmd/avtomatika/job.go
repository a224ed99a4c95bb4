package main

import (
	"context"
	"fmt"
	"io"
)

func runJob(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "avtomatika job: not built yet")
	return exitUsage
}
