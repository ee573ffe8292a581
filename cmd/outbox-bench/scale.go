package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// runScale fills a spool with deferred messages through the store API and
// measures what must stay flat or bounded as it grows.
func runScale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("outbox-bench scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1_000_000, "messages to queue")
	domains := fs.Int("domains", 10_000, "destination domains the recipients are spread over")
	size := fs.Int("s", 1024, "body size in bytes")
	writers := fs.Int("writers", 256, "concurrent Enqueue calls while filling (they share group commits)")
	checks := fs.String("at", "10000,100000,1000000", "queue sizes at which the due-index queries are timed")
	bin := fs.String("outbox", "", "outbox binary (default: go build ./cmd/outbox into the run directory)")
	dir := fs.String("dir", "", "run directory (default: a new directory under $TMPDIR, removed afterwards)")
	keep := fs.Bool("keep", false, "keep the run directory (the filled spool)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var at []int
	for _, s := range strings.Split(*checks, ",") {
		var v int
		if _, err := fmt.Sscan(s, &v); err != nil || v <= 0 {
			return fmt.Errorf("-at: bad size %q", s)
		}
		if v < *n {
			at = append(at, v)
		}
	}
	at = append(at, *n)
	slices.Sort(at)
	at = slices.Compact(at)
	if *dir == "" {
		d, err := os.MkdirTemp("", "outbox-scale-")
		if err != nil {
			return err
		}
		*dir = d
	}
	if !*keep {
		defer os.RemoveAll(*dir)
	}
	if *bin == "" {
		*bin = filepath.Join(*dir, "outbox")
		build := exec.CommandContext(ctx, "go", "build", "-o", *bin, "./cmd/outbox")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("building outbox (run from the repository root, or pass -outbox): %w", err)
		}
	}

	spool := filepath.Join(*dir, "spool")
	db, err := store.Open(spool, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stdout, "# outbox-bench scale: N=%d domains=%d S=%d writers=%d\n", *n, *domains, *size, *writers)
	body := []byte("From: <app@example.com>\r\nSubject: scale\r\n\r\n" + strings.Repeat(strings.Repeat("x", 78)+"\r\n", max(*size/80, 1)))
	base := time.Now()
	filled := 0
	for _, target := range at {
		t0 := time.Now()
		if err := fill(ctx, db, filled, target, *domains, *writers, body, base); err != nil {
			return err
		}
		took := time.Since(t0)
		fmt.Fprintf(stdout, "filled %d..%d in %.1fs (%.0f msgs/s)\n", filled, target, took.Seconds(), float64(target-filled)/took.Seconds())
		filled = target
		nd := timeIt(1000, func() { db.NextDue(ctx) })
		due := timeIt(200, func() { db.Due(ctx, base.Add(3*time.Hour), 100, nil) })
		list := timeIt(50, func() { db.List(ctx, store.Filter{Limit: 100}) })
		fmt.Fprintf(stdout, "queued=%-8d next-due=%s due-page(100)=%s list-page(100)=%s (medians)\n", target, us(nd), us(due), us(list))
	}
	if err := db.Close(); err != nil {
		return err
	}
	bytes := dirBytes(spool)
	fmt.Fprintf(stdout, "spool: %.1f MiB for %d messages of %d bytes: %.0f bytes/message\n",
		float64(bytes)/(1<<20), *n, len(body), float64(bytes)/float64(*n))
	return measureDaemon(ctx, *bin, *dir, stdout)
}

// fill enqueues messages from..to-1, each deferred for an hour or more so
// nothing is due while the daemon runs on the spool.
func fill(ctx context.Context, db *store.DB, from, to, domains, writers int, body []byte, base time.Time) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for range writers {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to || ctx.Err() != nil {
					return
				}
				b, err := db.NewBody()
				if err == nil {
					b.Write(body)
					at := base.Add(time.Hour + time.Duration(i%3600)*time.Second)
					m := &store.Message{
						From:     "app@example.com",
						Received: base,
						Recipients: []store.Recipient{{
							Addr:        fmt.Sprintf("user%d@d%d.example", i, i%domains),
							State:       store.StateDeferred,
							NextAttempt: at,
							Attempts:    1,
							LastReply:   "451 4.7.1 Greylisted, try again later",
						}},
					}
					err = db.Enqueue(ctx, m, b)
				}
				if err != nil {
					mu.Lock()
					firstErr = cmpOr(firstErr, err)
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	return ctx.Err()
}

func cmpOr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// timeIt returns the median duration of f over n calls.
func timeIt(n int, f func()) time.Duration {
	d := make([]time.Duration, n)
	for i := range d {
		t := time.Now()
		f()
		d[i] = time.Since(t)
	}
	slices.Sort(d)
	return d[n/2]
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }

func dirBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if info, err := e.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// measureDaemon starts `outbox serve` on the filled spool (delivery paused:
// nothing is due anyway) and reports its start-up time, its memory, and the
// time of `outbox queue list`'s first page.
func measureDaemon(ctx context.Context, bin, dir string, stdout io.Writer) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	t0 := time.Now()
	ob, err := startOutbox(ctx, bin, dir, outboxConfig(dir, port, 0, 0, "paused = true\n"), port)
	if err != nil {
		return err
	}
	defer ob.stop()
	startup := time.Since(t0)
	cfg := filepath.Join(dir, "outbox.toml")
	list := timeIt(3, func() {
		cmd := exec.CommandContext(ctx, bin, "queue", "list", "--config", cfg, "--limit", "100")
		cmd.Stdout = io.Discard
		cmd.Run()
	})
	pid := ob.pid()
	fmt.Fprintf(stdout, "daemon: start-up (exec to accepting SMTP) %.2fs; RSS %.1f MiB (anon %.1f MiB, file-backed %.1f MiB: bbolt's mmap), peak %.1f MiB; `queue list --limit 100` %.0fms\n",
		startup.Seconds(), kib(statusKB(pid, "VmRSS")), kib(statusKB(pid, "RssAnon")), kib(statusKB(pid, "RssFile")),
		kib(statusKB(pid, "VmHWM")), float64(list)/1e6)
	return nil
}

func kib(v int64) float64 { return float64(v) / 1024 }
