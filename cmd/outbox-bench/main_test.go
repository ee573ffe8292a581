package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		var rs []result
		for _, v := range tt.in {
			rs = append(rs, result{accept: v})
		}
		if got := median(rs, func(r result) float64 { return r.accept }); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestSinkCount(t *testing.T) {
	dir := t.TempDir()
	s := &sink{out: filepath.Join(dir, "sink.out")}
	for _, tt := range []struct {
		text string
		want int
	}{
		{"", 0},
		{"sess=1 quit=0 mesg=0", 0},
		{"sess=1 quit=0 mesg=1sess=1 quit=0 mesg=2sess=2 quit=1 mesg=2", 2},
		{strings.Repeat("sess=9 quit=9 mesg=99", 20) + "sess=10 quit=9 mesg=100", 100},
	} {
		os.WriteFile(s.out, []byte(tt.text), 0o644)
		if got := s.count(); got != tt.want {
			t.Errorf("count after %q = %d, want %d", tt.text, got, tt.want)
		}
	}
}

// TestSmoke runs both commands at a tiny size so the tool does not rot:
// the ceiling, Outbox through the smarthost route and with every
// capability on (its run fails unless each one was at work, DKIM
// signatures verified), and a small scale fill. It needs smtp-source and smtp-sink (Debian's postfix package);
// outside CI it skips without them.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the daemon")
	}
	for _, b := range []string{"smtp-source", "smtp-sink"} {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed", b)
			}
			t.Skipf("%s not installed", b)
		}
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "outbox")
	if out, err := exec.Command("go", "build", "-o", bin, "../outbox").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errs bytes.Buffer
	if code := run(ctx, []string{"compare", "-n", "200", "-c", "5", "-runs", "1", "-m", "1,0", "-warmup", "10",
		"-systems", "ceiling,outbox-relay,outbox-full-dkim", "-big", "1048576", "-outbox", bin, "-dir", filepath.Join(dir, "cmp")}, &out, &errs); code != 0 {
		t.Fatalf("compare exited %d:\n%s%s", code, out.String(), errs.String())
	}
	for _, want := range []string{fmt.Sprintf("%-19s 1/session", "ceiling"), fmt.Sprintf("%-19s many/session", "outbox-relay"),
		fmt.Sprintf("%-19s 1/session", "outbox-full-dkim"), "e2e/ceiling=", "outbox-big", "ok)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("compare output lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run(ctx, []string{"scale", "-n", "2000", "-at", "1000", "-domains", "10", "-outbox", bin, "-dir", filepath.Join(dir, "scale")}, &out, &errs); code != 0 {
		t.Fatalf("scale exited %d:\n%s%s", code, out.String(), errs.String())
	}
	for _, want := range []string{"queued=1000 ", "queued=2000 ", "bytes/message", "start-up"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("scale output lacks %q:\n%s", want, out.String())
		}
	}
}
