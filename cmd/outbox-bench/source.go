package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// load is the shape of one batch of submissions.
type load struct {
	n, c, size int
	perSession int // 1: one message per session; 0: smtp-source -d, sessions never reconnect
}

// runSource runs smtp-source against 127.0.0.1:port and waits for it: when
// it exits, every message it sent has had its final reply.
func runSource(ctx context.Context, port int, l load, n int) error {
	args := []string{"-4", "-l", fmt.Sprint(l.size), "-M", "client.localdomain",
		"-f", "sender@example.com", "-t", "rcpt@example.net", "-s", fmt.Sprint(l.c), "-m", fmt.Sprint(n)}
	if l.perSession == 0 {
		args = append(args, "-d")
	}
	cmd := exec.CommandContext(ctx, "smtp-source", append(args, fmt.Sprintf("127.0.0.1:%d", port))...)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("smtp-source: %w", err)
	}
	return nil
}

// probe submits messages one after the other while the load runs and
// records each one's latency from the end of DATA to the server's reply.
type probe struct {
	stop chan struct{}
	wg   sync.WaitGroup
	lat  []time.Duration
	err  error
}

func startProbe(port int, l load) *probe {
	p := &probe{stop: make(chan struct{})}
	body := []byte("From: <probe@example.com>\r\nTo: <rcpt@example.net>\r\nSubject: probe\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 78)+"\r\n", max(l.size/80, 1)))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p.wg.Go(func() {
		var c *smtp.Client
		defer func() {
			if c != nil {
				c.Quit()
			}
		}()
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			if c == nil {
				var err error
				if c, err = smtp.Dial(addr); err != nil {
					p.err = err
					return
				}
				if err := c.Hello("probe.localdomain"); err != nil {
					p.err = err
					return
				}
			}
			d, err := p.send(c, body)
			if err != nil {
				p.err = err
				return
			}
			p.lat = append(p.lat, d)
			if l.perSession == 1 {
				c.Quit()
				c = nil
			}
		}
	})
	return p
}

func (p *probe) send(c *smtp.Client, body []byte) (time.Duration, error) {
	if err := c.Mail("probe@example.com", nil); err != nil {
		return 0, err
	}
	if err := c.Rcpt("rcpt@example.net", nil); err != nil {
		return 0, err
	}
	w, err := c.Data()
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(body); err != nil {
		return 0, err
	}
	t := time.Now()
	if err := w.Close(); err != nil { // writes the final dot, reads the reply
		return 0, err
	}
	return time.Since(t), nil
}

// Stop ends the probe and returns how many messages it submitted and their
// p50 and p99 latencies.
func (p *probe) Stop() (n int, p50, p99 time.Duration, err error) {
	close(p.stop)
	p.wg.Wait()
	if len(p.lat) == 0 {
		return 0, 0, 0, p.err
	}
	s := slices.Clone(p.lat)
	slices.Sort(s)
	return len(s), s[len(s)*50/100], s[min(len(s)*99/100, len(s)-1)], p.err
}
