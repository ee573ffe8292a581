package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/emersion/go-smtp"
)

// runBig submits one message of size bytes to a fresh Outbox relaying to
// the sink and reports how much the daemon's peak RSS (VmHWM) grew over
// its RSS before the message: the target is at most twice the message.
func runBig(ctx context.Context, o *compareOpts, size int, stdout io.Writer) error {
	dir := filepath.Join(o.dir, "big")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sinkPort, err := freePort()
	if err != nil {
		return err
	}
	sk, err := startSink(dir, sinkPort)
	if err != nil {
		return err
	}
	defer sk.stop()
	port, err := freePort()
	if err != nil {
		return err
	}
	ob, err := startOutbox(ctx, o.bin, dir, outboxConfig(dir, port, sinkPort, 0, ""), port)
	if err != nil {
		return err
	}
	defer ob.stop()
	before := statusKB(ob.pid(), "VmRSS")

	line := bytes.Repeat([]byte("x"), 998)
	line = append(line, "\r\n"...)
	var body bytes.Buffer
	body.WriteString("From: <big@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: big\r\n\r\n")
	for body.Len()+len(line) <= size {
		body.Write(line)
	}
	start := time.Now()
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail("big@example.com", []string{"rcpt@example.net"}, &body); err != nil {
		return fmt.Errorf("25 MiB message: %w", err)
	}
	accepted := time.Since(start)
	c.Quit()
	if err := sk.wait(ctx, 1, time.Minute); err != nil {
		return err
	}
	relayed := time.Since(start)
	growth := statusKB(ob.pid(), "VmHWM") - before
	verdict := "ok"
	if float64(growth)*1024 > 2*float64(size) {
		verdict = "OVER"
	}
	fmt.Fprintf(stdout, "%-13s %-12s size=%.1fMiB accepted=%.2fs relayed=%.2fs rss_before=%.1fMiB peak_growth=%.1fMiB (limit %.1fMiB: %s)\n",
		"outbox-big", "1 message", float64(size)/(1<<20), accepted.Seconds(), relayed.Seconds(),
		kib(before), kib(growth), 2*float64(size)/(1<<20), verdict)
	return nil
}
