package integration

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// TestDNSCacheOneMXQueryPerTTL delivers a burst of messages to one domain
// and counts, in dnsmasq's query log, the MX queries the daemon sent: one
// for the whole burst (well within the record's 600 s TTL) with the
// default cache, one per delivery with dns_cache_size = 0. Each message
// gets a session of its own (max_messages_per_connection = 1), so every
// delivery resolves the domain, as it does when sessions cannot be reused;
// the cache's miss counter must equal the queries dnsmasq logged.
func TestDNSCacheOneMXQueryPerTTL(t *testing.T) {
	needTool(t, "dnsmasq")
	tests := []struct {
		name     string
		n        int    // messages
		extra    string // [delivery] settings
		wantOne  bool   // exactly one MX query; else at least one per message
		sessions int
	}{
		{"cache on", 1000, "", true, 4},
		{"cache off", 100, "dns_cache_size = 0", false, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			dm := startDNSMasq(t, "--log-queries", "--local-ttl=600",
				"--mx-host=burst.test,mx.burst.test,10",
				"--host-record=mx.burst.test,127.0.0.3",
			)
			port := freePort(t, "127.0.0.3")
			mx := smtptest.Start(t, smtptest.Options{Addr: fmt.Sprintf("127.0.0.3:%d", port)})
			dir := t.TempDir()
			addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
			metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
			cfg := fmt.Sprintf(`
hostname = "outbox.test"
[spool]
dir = %q
[[listen.submission]]
address = %q
[metrics]
address = %q
[delivery]
resolver = %q
port = %d
dsn = false
max_messages_per_connection = 1
%s
`, filepath.Join(dir, "spool"), addr, metricsAddr, dm.Addr, port, tt.extra)
			d := startDaemon(t, dir, cfg, addr)

			submitMany(t, addr, "burst@sender.test", "rcpt@burst.test", tt.n, tt.sessions)
			accepted := time.Since(start)
			waitFor(t, fmt.Sprintf("%d messages at the MX", tt.n), 120*time.Second, func() bool {
				return len(mx.Messages()) >= tt.n
			})
			d.waitQueueEmpty(30 * time.Second)
			if got := len(mx.Messages()); got != tt.n {
				t.Errorf("the MX received %d messages, want %d", got, tt.n)
			}

			mxQueries := dm.queries("burst.test", dns.TypeMX)
			aQueries := dm.queries("mx.burst.test", dns.TypeA)
			aaaaQueries := dm.queries("mx.burst.test", dns.TypeAAAA)
			// MTA-STS asks for the _mta-sts TXT record before each
			// delivery; dnsmasq's NXDOMAIN carries no SOA either.
			txtQueries := dm.queries("_mta-sts.burst.test", dns.TypeTXT)
			switch {
			case tt.wantOne && mxQueries != 1:
				t.Errorf("%d MX queries for %d messages, want 1 within the TTL", mxQueries, tt.n)
			case !tt.wantOne && mxQueries < tt.n:
				t.Errorf("%d MX queries for %d messages without a cache, want one per delivery", mxQueries, tt.n)
			}
			metrics := scrapeMetrics(t, "http://"+metricsAddr+"/metrics")
			hits, hasHits := metrics["outbox_dns_cache_hits_total"]
			misses := metrics["outbox_dns_cache_misses_total"]
			if tt.wantOne {
				// The MX and A answers are kept; dnsmasq's NODATA for
				// AAAA carries no SOA, so it is not (RFC 2308 §5).
				if !hasHits || hits < float64(2*(tt.n-1)) {
					t.Errorf("outbox_dns_cache_hits_total = %v (present %t), want at least %d", hits, hasHits, 2*(tt.n-1))
				}
				if total := mxQueries + aQueries + aaaaQueries + txtQueries; misses != float64(total) {
					t.Errorf("outbox_dns_cache_misses_total = %v, want %d, the queries dnsmasq logged", misses, total)
				}
			}
			if !tt.wantOne && hasHits {
				t.Error("DNS cache metrics exported with the cache off")
			}
			summary(t, "%s: %d messages to burst.test in %d sessions, accepted in %.1fs, delivered in %.1fs: "+
				"%d MX, %d A, %d AAAA queries at dnsmasq; cache hits %.0f, misses %.0f",
				tt.name, tt.n, tt.sessions, accepted.Seconds(), time.Since(start).Seconds(),
				mxQueries, aQueries, aaaaQueries, hits, misses)
		})
	}
}

// submitMany submits n messages from one sender to one recipient over
// sessions concurrent SMTP sessions, several transactions per session.
func submitMany(t *testing.T, addr, from, to string, n, sessions int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, sessions)
	for s := range sessions {
		count := n / sessions
		if s < n%sessions {
			count++
		}
		wg.Go(func() {
			if err := submitSession(addr, from, to, s, count); err != nil {
				errs <- fmt.Errorf("session %d: %w", s, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// submitSession sends count small messages in one SMTP session.
func submitSession(addr, from, to string, session, count int) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		return err
	}
	for i := range count {
		body := fmt.Sprintf("From: <%s>\r\nTo: <%s>\r\nSubject: burst %d.%d\r\n\r\nbody\r\n", from, to, session, i)
		if err := c.SendMail(from, []string{to}, strings.NewReader(body)); err != nil {
			return fmt.Errorf("message %d: %w", i, err)
		}
	}
	return c.Quit()
}
