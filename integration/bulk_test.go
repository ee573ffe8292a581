package integration

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// seedDeferred writes n deferred messages to a recipient in domain into the
// stopped spool at dir, with 8 writers so the store commits them in groups.
func seedDeferred(t *testing.T, dir, domain string, n int) {
	t.Helper()
	db, err := store.Open(dir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	later := time.Now().Add(time.Hour)
	work := make(chan int)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				b, err := db.NewBody()
				if err == nil {
					_, err = b.Write([]byte("Subject: bulk\r\n\r\nhello\r\n"))
				}
				if err == nil {
					err = db.Enqueue(ctx, &store.Message{From: "app@here.test", Recipients: []store.Recipient{{
						Addr: fmt.Sprintf("r%d@%s", i, domain), State: store.StateDeferred, Attempts: 1,
						NextAttempt: later, LastReply: "451 4.4.1 try later"}}}, b)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range n {
		select {
		case work <- i:
		case err := <-errs:
			t.Fatal(err)
		}
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// bulkMessages is the size of the bulk selection: 1000, or
// $OUTBOX_BULK_MESSAGES to measure larger ones.
func bulkMessages(t *testing.T) int {
	n := 1000
	if s := os.Getenv("OUTBOX_BULK_MESSAGES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("OUTBOX_BULK_MESSAGES=%q: want a positive count", s)
		}
		n = v
	}
	return n
}

// TestBulkDeleteByDomain: with delivery paused, 1000 deferred messages to
// one domain are held, released and then deleted, each by one command
// through the real binary, while another domain's messages stay; a dry run
// counts without changing anything, and the delete of a filtered selection
// is refused without a terminal unless --yes is given.
func TestBulkDeleteByDomain(t *testing.T) {
	n := bulkMessages(t)
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	seedDeferred(t, spool, "bulk.example", n)
	seedDeferred(t, spool, "keep.example", 10)
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, pausedConfig(spool, addr), addr)

	sel := []string{"--all", "--domain", "bulk.example", "--state", "deferred"}
	want := fmt.Sprintf("%d messages match (dry run: nothing deleted)\n", n)
	if out := d.cli(append([]string{"queue", "delete", "--dry-run"}, sel...)...); out != want {
		t.Fatalf("dry run: %q, want %q", out, want)
	}
	// No terminal (stdin is /dev/null) and no --yes: refused, nothing gone.
	out, err := d.cliErr(append([]string{"queue", "delete"}, sel...)...)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "give --yes") {
		t.Fatalf("delete without --yes: %v, %q; want exit 1 asking for --yes", err, out)
	}

	timed := func(args ...string) time.Duration {
		start := time.Now()
		d.cli(args...)
		return time.Since(start)
	}
	hold := timed(append([]string{"queue", "hold"}, sel...)...)
	if got := count(t, d, "held"); got != n {
		t.Fatalf("%d messages held, want %d", got, n)
	}
	release := timed("queue", "release", "--all", "--state", "held")
	del := timed("queue", "delete", "--all", "--domain", "bulk.example", "--yes")
	if got := count(t, d, ""); got != 10 {
		t.Fatalf("%d messages left after the delete, want the 10 of keep.example", got)
	}
	if !strings.Contains(d.log.String(), fmt.Sprintf("messages=%d", n)) {
		t.Errorf("the daemon did not log the bulk operation's count:\n%s", d.log)
	}
	summary(t, "%d messages, one command each: hold %v, release %v, delete %v",
		n, hold.Round(time.Millisecond), release.Round(time.Millisecond), del.Round(time.Millisecond))
}

// count is the number of messages `queue hold --dry-run` selects in state
// ("" any).
func count(t *testing.T, d *daemon, state string) int {
	t.Helper()
	args := []string{"queue", "hold", "--all", "--dry-run"}
	if state != "" {
		args = append(args, "--state", state)
	}
	out := d.cli(args...)
	var n int
	if _, err := fmt.Sscanf(out, "%d messages match", &n); err != nil {
		t.Fatalf("dry run answered %q: %v", out, err)
	}
	return n
}
