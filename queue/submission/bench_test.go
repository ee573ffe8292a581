package submission

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/store"
)

// BenchmarkAcceptDurable measures durable accept throughput end to end: SMTP
// sessions on loopback submitting 4 KiB messages into a real spool, each 250
// sent only after the fsynced commit. Sessions stay open and send message
// after message; the reported msgs/s is b.N over the wall time, and p50/p99
// are the latencies from the end of DATA to the 250.
//
//	go test -run '^$' -bench AcceptDurable -benchtime 3000x ./queue/submission
func BenchmarkAcceptDurable(b *testing.B) {
	for _, sessions := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			benchAccept(b, sessions, 4096)
		})
	}
}

// BenchmarkAcceptSession is BenchmarkAcceptDurable with one message per
// session, as most clients send: each op is a connection, EHLO, MAIL,
// RCPT, DATA and QUIT, so per-connection costs count in full (B/op and
// allocs/op include the client's).
//
//	go test -run '^$' -bench AcceptSession -benchtime 3000x -benchmem ./queue/submission
func BenchmarkAcceptSession(b *testing.B) {
	const sessions = 8
	addr, body := benchServer(b, sessions, 4096)
	var wg sync.WaitGroup
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for i := range sessions {
		n := b.N / sessions
		if i < b.N%sessions {
			n++
		}
		wg.Go(func() {
			for range n {
				if err := sendOne(addr, body); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// sendOne sends body in a session of its own, without TLS.
func sendOne(addr, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("bench.test"); err != nil {
		return err
	}
	if err := c.Mail("bench@example.com", nil); err != nil {
		return err
	}
	if err := c.Rcpt("r@example.net", nil); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// benchServer starts a Server on a real spool in b's temporary directory
// and returns its address and a message of about size octets.
func benchServer(b *testing.B, sessions, size int) (addr, body string) {
	db, err := store.Open(b.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	srv, err := New(Options{
		Hostname:       "outbox.test",
		MaxConnections: sessions + 1,
		Trusted:        []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Spool:          db,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	body = "From: bench@example.com\r\nTo: r@example.net\r\nSubject: bench\r\n\r\n" +
		strings.Repeat(strings.Repeat("x", 78)+"\r\n", size/80) + "\r\n"
	return l.Addr().String(), body
}

func benchAccept(b *testing.B, sessions, size int) {
	addr, body := benchServer(b, sessions, size)
	clients := make([]*smtp.Client, sessions)
	for i := range clients {
		c, err := smtp.Dial(addr)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Hello("bench.test"); err != nil {
			b.Fatal(err)
		}
		clients[i] = c
	}
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
	)
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	start := time.Now()
	for i, c := range clients {
		n := b.N / sessions
		if i < b.N%sessions {
			n++
		}
		wg.Go(func() {
			mine := make([]time.Duration, 0, n)
			for range n {
				if err := c.Mail("bench@example.com", nil); err != nil {
					b.Error(err)
					return
				}
				if err := c.Rcpt("r@example.net", nil); err != nil {
					b.Error(err)
					return
				}
				w, err := c.Data()
				if err != nil {
					b.Error(err)
					return
				}
				if _, err := io.WriteString(w, body); err != nil {
					b.Error(err)
					return
				}
				t0 := time.Now()
				if err := w.Close(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	for _, c := range clients {
		c.Close()
	}
	if len(lats) == 0 {
		return
	}
	slices.Sort(lats)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
}
