package integration

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// mountTmpfs mounts a tmpfs of the given size on dir, unmounted in
// t.Cleanup. It needs root: outside CI the test skips without it.
func mountTmpfs(t *testing.T, dir, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0700", "tmpfs", dir).CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("mounting a %s tmpfs on %s (needs root): %v %s", size, dir, err, out)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// fillDisk writes path until the filesystem is full and returns its size.
func fillDisk(t *testing.T, path string) int64 {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := bytes.Repeat([]byte("x"), 16<<10)
	var n int64
	for {
		k, err := f.Write(chunk)
		n += int64(k)
		if errors.Is(err, syscall.ENOSPC) {
			return n
		}
		if err != nil {
			t.Fatalf("filling the disk: %v", err)
		}
	}
}

// sizedBody is a message of about size bytes identified by tag.
func sizedBody(tag, size int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: disk@example.com\r\nX-Test-Tag: %d\r\nSubject: disk %d\r\n\r\n", tag, tag)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "message %d line %d: the quick brown fox jumps over the lazy dog\r\n", tag, i)
	}
	return b.String()
}

// diskSubmitter submits tagged messages of a given size and keeps the
// bodies of those acknowledged, by tag.
type diskSubmitter struct {
	addr   string
	tag    int
	bodies map[int]string
}

func (ds *diskSubmitter) send(size int) error {
	ds.tag++
	body := sizedBody(ds.tag, size)
	err := trySubmit(ds.addr, "disk@example.com", []string{"disk@example.net"}, body)
	if err == nil {
		ds.bodies[ds.tag] = body
	}
	return err
}

// submitWhileFull submits on a full disk: every large message must be
// refused with a temporary code; a small one may still fit in pages bbolt
// already owns. It returns the refusals by reply and the acceptances.
func submitWhileFull(t *testing.T, ds *diskSubmitter) (refused map[string]int, accepted int) {
	t.Helper()
	refused = map[string]int{}
	for i := range 8 {
		size := 200 << 10
		if i%2 == 1 {
			size = 20 << 10
		}
		err := ds.send(size)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			if size > 128<<10 {
				t.Errorf("a %d KiB message was accepted on a full disk", size>>10)
			}
			accepted++
		case errors.As(err, &se) && (se.Code == 452 && se.EnhancedCode == smtp.EnhancedCode{4, 3, 1} || se.Code == 451):
			refused[fmt.Sprintf("%d %d.%d.%d", se.Code, se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])]++
		default:
			t.Errorf("submission on a full disk: %v, want 452 4.3.1 or 451", err)
		}
	}
	return refused, accepted
}

// deliveredIntact counts the deliveries at mx by tag, failing t for a
// message without a tag or whose body (after the header block, which
// Outbox extends) differs from the one in bodies.
func deliveredIntact(t *testing.T, mx *smtptest.Server, bodies map[int]string) map[int]int {
	t.Helper()
	got := map[int]int{}
	for _, m := range mx.Messages() {
		tg := tagRE.FindSubmatch(m.Data)
		if tg == nil {
			t.Errorf("delivered message without a tag:\n%.300s", m.Data)
			continue
		}
		var k int
		fmt.Sscan(string(tg[1]), &k)
		got[k]++
		if want, ok := bodies[k]; ok && !bytes.HasSuffix(m.Data, []byte(want[strings.Index(want, "\r\n\r\n"):])) {
			t.Errorf("message %d arrived altered (%d bytes)", k, len(m.Data))
		}
	}
	return got
}

// TestDiskFull puts the spool on a 4 MiB tmpfs and fills it: submissions
// must get a temporary 452 4.3.1 (or 451), never a 250 that is not kept nor
// a permanent failure; everything queued before stays listed and is
// delivered intact after a restart; acceptance resumes once space is freed.
func TestDiskFull(t *testing.T) {
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.2",
	)
	mx := w.mx(t, "127.0.0.2", smtptest.Options{})
	dir := t.TempDir()
	spool := filepath.Join(dir, "spool")
	mountTmpfs(t, spool, "4m") // cleanups run in reverse: the daemon stops before the umount
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	paused := w.config(t, dir, addr, "paused = true")
	d := startDaemon(t, dir, paused, addr)

	// Before: small (inline in bbolt) and large (body file) messages.
	ds := &diskSubmitter{addr: addr, bodies: map[int]string{}}
	bodies := ds.bodies
	for i := range 12 {
		size := 20 << 10
		if i%4 == 3 {
			size = 200 << 10
		}
		if err := ds.send(size); err != nil {
			t.Fatalf("submitting before the disk is full: %v", err)
		}
	}
	before := len(bodies)

	filler := filepath.Join(spool, "filler")
	filled := fillDisk(t, filler)

	refused, acceptedFull := submitWhileFull(t, ds)
	if len(refused) == 0 {
		t.Fatalf("nothing was refused on a full disk (filler %d bytes)", filled)
	}

	// Nothing queued is damaged: every acknowledged message is listed.
	if got := len(d.queueJSON()); got != len(bodies) {
		t.Errorf("%d messages listed on the full disk, want %d", got, len(bodies))
	}

	// Space freed: acceptance resumes without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := ds.send(200 << 10); err != nil {
			t.Errorf("submission after freeing space: %v", err)
		}
	}

	// Deliverable: restart with delivery on; every acknowledged message
	// arrives once, byte for byte after Outbox's added header fields.
	d.stop()
	writeFile(t, d.config, ownAPIPort(w.config(t, dir, addr, "")))
	d.start()
	d.waitQueueEmpty(60 * time.Second)
	got := deliveredIntact(t, mx, bodies)
	for k := range bodies {
		if got[k] != 1 {
			t.Errorf("acknowledged message %d delivered %d times, want 1", k, got[k])
		}
	}
	for k, n := range got {
		if _, ok := bodies[k]; !ok {
			t.Logf("message %d was refused yet delivered %d times (a refused message may be kept: a duplicate, never a loss)", k, n)
		}
	}
	summary(t, "tmpfs 4 MiB, filler %d KiB: %d accepted before, while full refused=%v accepted=%d, accepted again after freeing, %d/%d acknowledged delivered intact after restart",
		filled>>10, before, refused, acceptedFull, len(got), len(bodies))
}
