package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: outbox-bench compare|scale [flags]  (-h for the flags)")
		return 2
	}
	var err error
	switch args[0] {
	case "compare":
		err = runCompare(ctx, args[1:], stdout, stderr)
	case "scale":
		err = runScale(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprintf(stderr, "outbox-bench: unknown command %q (compare or scale)\n", args[0])
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "outbox-bench: %v\n", err)
		return 1
	}
	return 0
}

func cpus() int { return runtime.NumCPU() }
