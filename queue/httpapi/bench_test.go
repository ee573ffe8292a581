package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/queue/httpapi"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// benchClients is the number of concurrent clients of each protocol.
const benchClients = 20

// BenchmarkAccept compares durable accept over HTTP with SMTP in the same
// run: 20 concurrent clients, each sending 4 KiB messages one after the
// other over a kept-alive connection into a real spool (each answer only
// after the fsynced commit). msgs/s is b.N over the wall time; p50/p99
// are per-message latencies (MAIL to 250 for SMTP, request to 202 for
// HTTP).
//
// proto=both runs the two one after the other within each round (SMTP,
// then HTTP, b.N messages each, on fresh spools) and reports their
// figures side by side with the ratio http/smtp of msgs/s, so that a
// round's two figures share the machine's load of that moment (its ns/op
// is the HTTP half's).
//
//	go test -run '^$' -bench Accept -benchtime 3000x -count 3 ./queue/httpapi
func BenchmarkAccept(b *testing.B) {
	text := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 4096/80)
	b.Run("proto=smtp", func(b *testing.B) { report(b, run(b, benchSMTP(b, text))) })
	b.Run("proto=http", func(b *testing.B) { report(b, run(b, benchHTTP(b, text))) })
	b.Run("proto=both", func(b *testing.B) {
		smtp := run(b, benchSMTP(b, text))
		b.StartTimer()
		http := run(b, benchHTTP(b, text))
		b.ReportMetric(smtp.rate, "smtp-msgs/s")
		b.ReportMetric(smtp.p99, "smtp-p99-ms")
		b.ReportMetric(http.rate, "http-msgs/s")
		b.ReportMetric(http.p99, "http-p99-ms")
		if smtp.rate > 0 {
			b.ReportMetric(http.rate/smtp.rate, "http/smtp")
		}
	})
}

// figures are one protocol's results: msgs/s, p50 and p99 in ms.
type figures struct{ rate, p50, p99 float64 }

func report(b *testing.B, f figures) {
	b.ReportMetric(f.rate, "msgs/s")
	b.ReportMetric(f.p50, "p50-ms")
	b.ReportMetric(f.p99, "p99-ms")
}

func openDB(b *testing.B) *store.DB {
	db, err := store.Open(b.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

func listen(b *testing.B) net.Listener {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	return l
}

// run has each of benchClients clients send its share of b.N messages
// with send, and returns throughput and latencies.
func run(b *testing.B, send func(client int) error) figures {
	var (
		mu   sync.Mutex
		lats []time.Duration
		wg   sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for i := range benchClients {
		n := b.N / benchClients
		if i < b.N%benchClients {
			n++
		}
		wg.Go(func() {
			mine := make([]time.Duration, 0, n)
			for range n {
				t0 := time.Now()
				if err := send(i); err != nil {
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
	if len(lats) == 0 {
		return figures{}
	}
	slices.Sort(lats)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	return figures{float64(b.N) / elapsed.Seconds(), ms(lats[len(lats)/2]), ms(lats[len(lats)*99/100])}
}

// benchSMTP starts a listener on a fresh spool and returns a send of one
// message by client i; the listener and clients end with b.
func benchSMTP(b *testing.B, text string) func(i int) error {
	db := openDB(b)
	srv, err := submission.New(submission.Options{
		Hostname: "outbox.test", MaxConnections: benchClients + 1, MaxConnectionsPerClient: benchClients + 1,
		Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Spool:   db, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	l := listen(b)
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	body := "From: bench@example.com\r\nTo: r@example.net\r\nSubject: bench\r\n\r\n" + text
	clients := make([]*smtp.Client, benchClients)
	for i := range clients {
		c, err := smtp.Dial(l.Addr().String())
		if err == nil {
			err = c.Hello("bench.test")
		}
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		clients[i] = c
	}
	return func(i int) error {
		c := clients[i]
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
		return w.Close()
	}
}

// benchHTTP starts an API on a fresh spool and returns a send of one
// message; the server and client end with b.
func benchHTTP(b *testing.B, text string) func(int) error {
	db := openDB(b)
	srv, err := httpapi.New(httpapi.Options{
		Spool: db, Hostname: "outbox.test", TrustLoopback: true,
		MaxMessageSize: 1 << 20, MaxRecipients: 100, MaxConnections: benchClients + 1,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	l := listen(b)
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	body, _ := json.Marshal(map[string]any{"from": "bench@example.com", "to": []string{"r@example.net"}, "subject": "bench", "text": text})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	b.Cleanup(client.CloseIdleConnections)
	url := "http://" + l.Addr().String() + "/v1/messages"
	return func(int) error {
		resp, err := client.Post(url, "application/json", bytes.NewReader(body))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
}
