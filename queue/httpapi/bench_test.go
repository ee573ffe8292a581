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
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/queue/httpapi"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// benchClients is the number of concurrent clients of each protocol.
const benchClients = 20

// bothPhases is the number of phases of each protocol in a round of
// proto=both.
const bothPhases = 4

// BenchmarkAccept compares durable accept over HTTP with SMTP in the same
// run: 20 concurrent clients, each sending 4 KiB messages one after the
// other over a kept-alive connection into a real spool (each answer only
// after the fsynced commit). msgs/s is the messages over the wall time;
// p50/p99 are per-message latencies (MAIL to 250 for SMTP, request to 202
// for HTTP); cpu-us/msg is the process's CPU time per message, B/msg and
// allocs/msg its heap allocations per message. The clients run in the
// same process, so each protocol's figures include its client's share
// (go-smtp's client, net/http's keep-alive client). Both send the same
// mail: the SMTP client sends the header the API builds from the JSON
// request (Date, Message-ID, MIME fields), as a mail library does.
//
// Before timing, every client of both protocols has sent one message, so
// connections are open (HTTP dials lazily) and both spools hold as many.
//
// proto=both alternates the two within each round, in bothPhases phases
// of b.N/bothPhases messages each, in the order SMTP, HTTP, HTTP, SMTP,
// SMTP, HTTP...: neither protocol always runs first or last (a phase
// inherits the collector's debt of the one before), and on a shared
// machine both see its load of that moment. It reports each protocol's
// figures with its prefix and the ratio http/smtp of msgs/s; its ns/op is
// per pair of messages (one of each protocol).
//
//	go test -run '^$' -bench Accept -benchtime 3000x -count 3 ./queue/httpapi
func BenchmarkAccept(b *testing.B) {
	text := strings.Repeat(strings.Repeat("x", 78)+"\r\n", 4096/80)
	b.Run("proto=smtp", func(b *testing.B) {
		send := benchSMTP(b, text)
		b.ResetTimer()
		phase(b, send, b.N).report(b, "")
	})
	b.Run("proto=http", func(b *testing.B) {
		send := benchHTTP(b, text)
		b.ResetTimer()
		phase(b, send, b.N).report(b, "")
	})
	b.Run("proto=both", func(b *testing.B) {
		smtp, http := benchSMTP(b, text), benchHTTP(b, text)
		b.ResetTimer()
		var s, h result
		for i := range bothPhases {
			n := b.N / bothPhases
			if i < b.N%bothPhases {
				n++
			}
			if i%2 == 0 {
				s = s.add(phase(b, smtp, n))
				h = h.add(phase(b, http, n))
			} else {
				h = h.add(phase(b, http, n))
				s = s.add(phase(b, smtp, n))
			}
		}
		s.report(b, "smtp-")
		h.report(b, "http-")
		if s.elapsed > 0 && h.elapsed > 0 {
			b.ReportMetric(h.rate()/s.rate(), "http/smtp")
		}
	})
}

// result is one protocol's measurement: messages, their latencies, the
// wall and CPU time they took, and the heap allocations made meanwhile.
type result struct {
	n              int
	lats           []time.Duration
	elapsed, cpu   time.Duration
	mallocs, bytes uint64
}

func (r result) add(o result) result {
	return result{n: r.n + o.n, lats: append(r.lats, o.lats...), elapsed: r.elapsed + o.elapsed,
		cpu: r.cpu + o.cpu, mallocs: r.mallocs + o.mallocs, bytes: r.bytes + o.bytes}
}

func (r result) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

// report reports r's figures, each name after prefix.
func (r result) report(b *testing.B, prefix string) {
	if r.n == 0 || len(r.lats) == 0 {
		return
	}
	slices.Sort(r.lats)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(r.rate(), prefix+"msgs/s")
	b.ReportMetric(ms(r.lats[len(r.lats)/2]), prefix+"p50-ms")
	b.ReportMetric(ms(r.lats[len(r.lats)*99/100]), prefix+"p99-ms")
	b.ReportMetric(float64(r.cpu.Microseconds())/float64(r.n), prefix+"cpu-us/msg")
	b.ReportMetric(float64(r.bytes)/float64(r.n), prefix+"B/msg")
	b.ReportMetric(float64(r.mallocs)/float64(r.n), prefix+"allocs/msg")
}

// phase has the benchClients clients send n messages in all with send,
// and measures them.
func phase(b *testing.B, send func(client int) error, n int) result {
	var (
		mu   sync.Mutex
		lats = make([]time.Duration, 0, n)
		wg   sync.WaitGroup
		ms   runtime.MemStats
	)
	runtime.ReadMemStats(&ms)
	mallocs, bytes := ms.Mallocs, ms.TotalAlloc
	cpu := cpuTime()
	start := time.Now()
	for i := range benchClients {
		mine := n / benchClients
		if i < n%benchClients {
			mine++
		}
		wg.Go(func() {
			own := make([]time.Duration, 0, mine)
			for range mine {
				t0 := time.Now()
				if err := send(i); err != nil {
					b.Error(err)
					return
				}
				own = append(own, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, own...)
			mu.Unlock()
		})
	}
	wg.Wait()
	r := result{n: n, lats: lats, elapsed: time.Since(start), cpu: cpuTime() - cpu}
	runtime.ReadMemStats(&ms)
	r.mallocs, r.bytes = ms.Mallocs-mallocs, ms.TotalAlloc-bytes
	return r
}

// warmUp has every client send one message, so that each has its
// connection open before timing starts.
func warmUp(b *testing.B, send func(client int) error) {
	var wg sync.WaitGroup
	for i := range benchClients {
		wg.Go(func() {
			if err := send(i); err != nil {
				b.Error(err)
			}
		})
	}
	wg.Wait()
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
	// The message an application's mail library sends: the header the
	// HTTP API builds for the same request (Date, Message-ID and the MIME
	// fields included), so both protocols accept the same mail.
	head := "Date: " + time.Now().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n" +
		"From: <bench@example.com>\r\nTo: <r@example.net>\r\nSubject: bench\r\n"
	var seq atomic.Int64
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
	send := func(i int) error {
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
		msgID := "Message-ID: <" + strconv.FormatInt(seq.Add(1), 10) + "@bench.test>\r\n\r\n"
		if _, err := io.WriteString(w, head+msgID+text); err != nil {
			return err
		}
		return w.Close()
	}
	warmUp(b, send)
	return send
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
	l := &countingListener{Listener: listen(b)}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	body, _ := json.Marshal(map[string]any{"from": "bench@example.com", "to": []string{"r@example.net"}, "subject": "bench", "text": text})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: benchClients}}
	b.Cleanup(client.CloseIdleConnections)
	url := "http://" + l.Addr().String() + "/v1/messages"
	send := func(int) error {
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
	warmUp(b, send)
	// The clients are applications that keep their connections: one per
	// client, opened once, else each message would pay a TCP handshake.
	b.Cleanup(func() {
		if n := l.accepted.Load(); n > benchClients {
			b.Errorf("the HTTP clients opened %d connections, want at most %d: keep-alive fails", n, benchClients)
		}
	})
	return send
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepted atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}
