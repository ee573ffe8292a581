package integration

import (
	"context"
	le "encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDamagedSpool runs the real binary on a spool damaged as disks and
// restores damage it: cut to 90 % and 50 % of the size its meta page
// uses, and flipped bytes in live pages. serve must stop with exit status
// 65 (which the unit does not restart on), name the file and say what to
// run, with no Go panic trace; spool check must exit 1; spool salvage must
// produce a spool the daemon runs on, holding what it recovered.
func TestDamagedSpool(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	spool := filepath.Join(dir, "spool")
	d := startDaemon(t, dir, pausedConfig(spool, addr), addr)
	const n = 60
	for i := range n {
		submit(t, addr, "a@example.com", []string{fmt.Sprintf("r%d@example.net", i)},
			fmt.Sprintf("Subject: %d\r\n\r\n%s", i, strings.Repeat(strings.Repeat("y", 70)+"\r\n", 3+i*13%90)))
	}
	var ids []string
	for _, m := range d.queueJSON() {
		ids = append(ids, m["id"].(string))
	}
	d.stop()
	pristine, err := os.ReadFile(filepath.Join(spool, "spool.db"))
	if err != nil {
		t.Fatal(err)
	}
	pageSize, used := spoolMeta(t, pristine)

	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"truncate 90%", func(b []byte) []byte { return b[:used*9/10] }},
		{"truncate 50%", func(b []byte) []byte { return b[:used/2] }},
		{"flipped bytes", func(b []byte) []byte {
			// The header and first elements of every third page.
			for p := 2; p*pageSize < used; p += 3 {
				for i := range 48 {
					b[p*pageSize+i] ^= 0xA5
				}
			}
			return b
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			damaged := append([]byte(nil), pristine...)
			if err := os.WriteFile(filepath.Join(spool, "spool.db"), tc.damage(damaged), 0o600); err != nil {
				t.Fatal(err)
			}
			code, out := serveOnDamage(t, dir, d.config, ids)
			if code != 65 {
				t.Errorf("serve on a damaged spool: exit %d, want 65\n%s", code, out)
			}
			for _, want := range []string{filepath.Join(spool, "spool.db"), "outbox spool check", "outbox spool salvage"} {
				if !strings.Contains(out, want) {
					t.Errorf("serve's output lacks %q:\n%s", want, out)
				}
			}
			for _, bad := range []string{"panic:", "goroutine ", "fatal error"} {
				if strings.Contains(out, bad) {
					t.Errorf("serve's output has %q:\n%s", bad, out)
				}
			}
			if code, out := runOutbox(t, dir, "spool", "check", "--spool", spool); code != 1 {
				t.Errorf("spool check: exit %d, want 1\n%s", code, out)
			}
			to := filepath.Join(t.TempDir(), "salvaged")
			code, out = runOutbox(t, dir, "spool", "salvage", "--from", spool, "--to", to)
			if code != 0 && code != 1 {
				t.Fatalf("spool salvage: exit %d\n%s", code, out)
			}
			var recovered, held int
			fmt.Sscanf(out[strings.Index(out, ": ")+2:], "%d messages recovered (%d on hold", &recovered, &held)
			if code, out := runOutbox(t, dir, "spool", "check", "--spool", to); code != 0 {
				t.Errorf("spool check of the salvaged spool: exit %d\n%s", code, out)
			}
			addr2 := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
			d2 := startDaemon(t, t.TempDir(), pausedConfig(to, addr2), addr2)
			listed := len(d2.decodeList(d2.cli("queue", "list", "--json")))
			d2.stop()
			if listed != recovered {
				t.Errorf("the salvaged spool lists %d messages, salvage reported %d", listed, recovered)
			}
			summary(t, "damaged spool (%s): serve exit %d; salvage exit %d: %d of %d messages recovered (%d on hold)", tc.name, 65, code, recovered, n, held)
		})
	}
}

// TestSpoolDamagedWhileRunning: a spool file cut short under a running
// daemon (its mapping now faults) stops the daemon with exit status 65 at
// the first read, naming the file, instead of crashing with SIGBUS.
func TestSpoolDamagedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	spool := filepath.Join(dir, "spool")
	d := startDaemon(t, dir, pausedConfig(spool, addr), addr)
	for i := range 20 {
		submit(t, addr, "a@example.com", []string{fmt.Sprintf("r%d@example.net", i)}, fmt.Sprintf("Subject: %d\r\n\r\nbody\r\n", i))
	}
	if err := os.Truncate(filepath.Join(spool, "spool.db"), 2*4096); err != nil {
		t.Fatal(err)
	}
	d.cliErr("queue", "list") // reads the records: the fault
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("the daemon still runs on a truncated spool\n%s", d.log)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 65 {
		t.Errorf("exit %d, want 65\n%s", code, d.log)
	}
	out := d.log.String()
	for _, want := range []string{filepath.Join(spool, "spool.db"), "outbox spool salvage"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fatal error") || strings.Contains(out, "goroutine ") {
		t.Errorf("a Go crash:\n%s", out)
	}
}

// serveOnDamage runs serve on a damaged spool and returns its exit status
// and output. Damage the start does not read (flipped bytes in a record or
// body page that no start-up read touches) is met in use: when the daemon
// becomes ready, the test reads every message (queue list, then queue show
// of each ID, which opens its body) until the daemon stops.
func serveOnDamage(t *testing.T, dir, config string, ids []string) (int, string) {
	t.Helper()
	log := new(syncBuffer)
	cmd := exec.Command(binary, "serve", "--config", config)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill()
		<-exited
	}()
	waitFor(t, "serve to stop or be ready", 60*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
			return strings.Contains(log.String(), "outbox ready")
		}
	})
	reads := [][]string{{"queue", "list", "--json"}}
	for _, id := range ids {
		reads = append(reads, []string{"queue", "show", id})
	}
	for _, args := range reads {
		select {
		case <-exited:
			return cmd.ProcessState.ExitCode(), log.String()
		default:
		}
		c := exec.Command(binary, append(args, "--config", config)...)
		c.Dir = dir
		c.Run() // an error is expected once the damage is met
	}
	select {
	case <-exited:
		return cmd.ProcessState.ExitCode(), log.String()
	case <-time.After(60 * time.Second):
		return -1, log.String()
	}
}

func pausedConfig(spool, addr string) string {
	return fmt.Sprintf(`
hostname = "outbox.test"
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
paused = true
`, spool, addr)
}

// runOutbox runs the binary and returns its exit status and its output.
func runOutbox(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("outbox %s: %v\n%s", strings.Join(args, " "), err, out)
	return 0, ""
}

// spoolMeta reads the page size and the used size (high-water mark) from
// meta page 0 of a bbolt file (the layout is in store/meta.go).
func spoolMeta(t *testing.T, b []byte) (pageSize, used int) {
	t.Helper()
	meta := func(off int) (ps, hwm, txid uint64) {
		m := b[off+16:]
		return uint64(le.LittleEndian.Uint32(m[8:])), le.LittleEndian.Uint64(m[40:]), le.LittleEndian.Uint64(m[48:])
	}
	ps, hwm, tx0 := meta(0)
	if _, hwm1, tx1 := meta(int(ps)); tx1 > tx0 {
		hwm = hwm1
	}
	return int(ps), int(hwm * ps)
}
