package store

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const crashEnv = "OUTBOX_STORE_CRASH_DIR"

// TestHelperCrashWriter is the child of TestKill9: it enqueues from several
// goroutines forever, printing "ID sha256" only after Enqueue returned.
func TestHelperCrashWriter(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process for TestKill9")
	}
	db, err := Open(dir, Options{InlineMax: 16 << 10, Logger: quietLogger()})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				size := 1000 + (i*7919+w*104729)%(64<<10) // inline and file bodies
				body := pattern(size, byte(i+w))
				b, err := db.NewBody()
				if err != nil {
					os.Exit(3)
				}
				b.Write(body)
				m := &Message{From: "crash@test", Recipients: rcpts("a@b", "c@d")}
				if err := db.Enqueue(context.Background(), m, b); err != nil {
					fmt.Println("enqueue:", err)
					os.Exit(4)
				}
				sum := sha256.Sum256(body)
				mu.Lock()
				fmt.Fprintf(out, "%s %x\n", m.ID, sum)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// TestKill9 kills a writer with SIGKILL mid-stream and checks that every
// acknowledged message is intact after reopening, and that nothing partial
// was left behind.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	for round := range 3 {
		t.Run(fmt.Sprint("round", round), func(t *testing.T) {
			dir := t.TempDir()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCrashWriter$", "-test.count=1")
			cmd.Env = append(os.Environ(), crashEnv+"="+dir)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			acked := map[string]string{}
			sc := bufio.NewScanner(stdout)
			want := 150 + 100*round
			deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
			defer deadline.Stop()
			for len(acked) < want && sc.Scan() {
				id, sum, ok := strings.Cut(sc.Text(), " ")
				if !ok {
					t.Fatalf("child: %s", sc.Text())
				}
				acked[id] = sum
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			// Lines already written before the kill are acknowledged too.
			for sc.Scan() {
				if id, sum, ok := strings.Cut(sc.Text(), " "); ok {
					acked[id] = sum
				}
			}
			cmd.Wait()
			if len(acked) < want {
				t.Fatalf("child acknowledged only %d messages", len(acked))
			}

			db := openTest(t, dir, Options{})
			ctx := context.Background()
			for id, sum := range acked {
				m, err := db.Get(ctx, id)
				if err != nil {
					t.Errorf("acknowledged %s lost: %v", id, err)
					continue
				}
				body := readBody(t, db, id)
				if got := sha256.Sum256(body); hex.EncodeToString(got[:]) != sum || int64(len(body)) != m.Size {
					t.Errorf("%s: body damaged (%d bytes, record says %d)", id, len(body), m.Size)
				}
			}
			// Every stored message (acknowledged or not) is whole.
			var after string
			total := 0
			for {
				ms, err := db.List(ctx, Filter{After: after, Limit: MaxListLimit, Done: true})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ms {
					total++
					if len(m.Recipients) != 2 || int64(len(readBody(t, db, m.ID))) != m.Size {
						t.Errorf("partial message %s: %+v", m.ID, m)
					}
				}
				if len(ms) < MaxListLimit {
					break
				}
				after = ms[len(ms)-1].ID
			}
			if q, _ := db.Quarantined(ctx); len(q) != 0 {
				t.Errorf("quarantined after crash: %v", q)
			}
			t.Logf("acknowledged %d, stored %d", len(acked), total)
		})
	}
}
