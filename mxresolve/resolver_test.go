package mxresolve_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// zone is the DNS world of these tests.
var zone = []string{
	// Preference order, given out of order.
	"pref.test. MX 20 mx2.pref.test.",
	"pref.test. MX 10 mx1.pref.test.",
	"pref.test. MX 30 mx3.pref.test.",
	"mx1.pref.test. A 127.0.0.2",
	"mx2.pref.test. A 127.0.0.3",
	"mx3.pref.test. A 127.0.0.4",

	// Equal preferences behind a better host.
	"equal.test. MX 10 a.equal.test.",
	"equal.test. MX 10 b.equal.test.",
	"equal.test. MX 5 best.equal.test.",
	"a.equal.test. A 127.0.0.2",
	"b.equal.test. A 127.0.0.3",
	"best.equal.test. A 127.0.0.4",

	// No MX (NODATA: the name has other records): implicit MX.
	"implicit.test. TXT \"v=spf1 -all\"",
	"implicit.test. A 127.0.0.5",
	"implicit.test. AAAA ::1",
	// Neither MX nor address.
	"bare.test. TXT \"nothing here\"",

	// Null MX, RFC 7505; and a "." beside a real MX.
	"null.test. MX 0 .",
	"null.test. A 127.0.0.9",
	"twonull.test. MX 0 .",
	"twonull.test. MX 10 .",
	"halfnull.test. MX 0 .",
	"halfnull.test. MX 10 mx.halfnull.test.",
	"mx.halfnull.test. A 127.0.0.2",

	// IPv6 and IPv4.
	"dual.test. MX 10 mx.dual.test.",
	"mx.dual.test. A 127.0.0.6",
	"mx.dual.test. AAAA ::1",
	"mx.dual.test. A 127.0.0.7",

	// Seven hosts for the cap.
	"many.test. MX 1 h1.many.test.",
	"many.test. MX 2 h2.many.test.",
	"many.test. MX 3 h3.many.test.",
	"many.test. MX 4 h4.many.test.",
	"many.test. MX 5 h5.many.test.",
	"many.test. MX 6 h6.many.test.",
	"many.test. MX 7 h7.many.test.",
	"h1.many.test. A 127.0.1.1", "h2.many.test. A 127.0.1.2", "h3.many.test. A 127.0.1.3",
	"h4.many.test. A 127.0.1.4", "h5.many.test. A 127.0.1.5", "h6.many.test. A 127.0.1.6",
	"h7.many.test. A 127.0.1.7",

	// Hosts that do not resolve.
	"skip.test. MX 10 gone.skip.test.",
	"skip.test. MX 20 ok.skip.test.",
	"ok.skip.test. A 127.0.0.2",
	"allgone.test. MX 10 gone1.allgone.test.",
	"allgone.test. MX 20 noaddr.allgone.test.",
	"noaddr.allgone.test. TXT \"no address\"",
	"tempgone.test. MX 10 down.tempgone.test.",
	"tempgone.test. MX 20 gone.tempgone.test.",
	"down.tempgone.test. A 127.0.0.2", // served SERVFAIL by behavior

	// MX targets that are IP literals, and CNAMEs.
	"iptarget.test. MX 10 127.0.0.9.",
	"iptarget.test. MX 20 mx.iptarget.test.",
	"mx.iptarget.test. A 127.0.0.2",
	"onlyip.test. MX 10 127.0.0.9.",
	"badtarget.test. MX 10 bad\\032name.badtarget.test.",
	"badtarget.test. MX 20 mx1.pref.test.",
	"cname.test. MX 10 alias.cname.test.",
	"alias.cname.test. CNAME real.cname.test.",
	"real.cname.test. A 127.0.0.7",
	"pointer.test. CNAME pref.test.",
	"dangling.test. CNAME nowhere.test.",
	// Served as an authoritative server would: the CNAME alone.
	"stop.test. MX 10 mx.stop.test.",
	"mx.stop.test. CNAME real.stop.test.",
	"real.stop.test. AAAA ::1",
	"loop1.test. CNAME loop2.test.",
	"loop2.test. CNAME loop1.test.",

	// Server behaviors.
	"servfail.test. MX 10 mx.pref.test.",
	"truncated.test. MX 10 mx1.truncated.test.",
	"truncated.test. MX 20 mx2.truncated.test.",
	"mx1.truncated.test. A 127.0.0.2",
	"mx2.truncated.test. A 127.0.0.3",

	// IDNA.
	"xn--bcher-kva.test. MX 10 mx.xn--bcher-kva.test.",
	"mx.xn--bcher-kva.test. A 127.0.0.8",
}

func startServer(t *testing.T) *dnstest.Server {
	t.Helper()
	s := &dnstest.Server{
		Zone: dnstest.Zone(t, zone...),
		Behaviors: map[string]dnstest.Behavior{
			"servfail.test":       dnstest.ServFail,
			"refused.test":        dnstest.Refused,
			"forcednx.test":       dnstest.NXDomain,
			"drop.test":           dnstest.Drop,
			"truncated.test":      dnstest.Truncate,
			"down.tempgone.test.": dnstest.ServFail,
			"mx2.truncated.test.": dnstest.Truncate,
		},
	}
	s.Start(t)
	return s
}

func newResolver(s *dnstest.Server) *mxresolve.Resolver {
	return &mxresolve.Resolver{
		Server:  s.Addr(),
		Timeout: 2 * time.Second,
		Shuffle: func(int, func(i, j int)) {}, // keep answer order
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// describe renders hosts as "name[addr,addr]/pref" for comparison.
func describe(hosts []mxresolve.Host) string {
	var parts []string
	for _, h := range hosts {
		var addrs []string
		for _, a := range h.Addrs {
			addrs = append(addrs, a.String())
		}
		s := fmt.Sprintf("%s/%d[%s]", h.Name, h.Pref, strings.Join(addrs, ","))
		if h.Implicit {
			s += "*"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestLookup(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name   string
		domain string
		adjust func(*mxresolve.Resolver)
		want   string
	}{
		{"preference order", "pref.test", nil,
			"mx1.pref.test/10[127.0.0.2] mx2.pref.test/20[127.0.0.3] mx3.pref.test/30[127.0.0.4]"},
		{"case and final dot", "PREF.Test.", nil,
			"mx1.pref.test/10[127.0.0.2] mx2.pref.test/20[127.0.0.3] mx3.pref.test/30[127.0.0.4]"},
		{"equal preferences go through Shuffle", "equal.test",
			func(r *mxresolve.Resolver) {
				r.Shuffle = func(n int, swap func(i, j int)) { swap(0, n-1) }
			},
			"best.equal.test/5[127.0.0.4] b.equal.test/10[127.0.0.3] a.equal.test/10[127.0.0.2]"},
		{"implicit MX on NODATA", "implicit.test", nil, "implicit.test/0[::1,127.0.0.5]*"},
		{"IPv6 first", "dual.test", nil, "mx.dual.test/10[::1,127.0.0.6,127.0.0.7]"},
		{"IPv4 first", "dual.test", func(r *mxresolve.Resolver) { r.PreferIPv4 = true },
			"mx.dual.test/10[127.0.0.6,127.0.0.7,::1]"},
		{"default cap of 5 hosts", "many.test", nil,
			"h1.many.test/1[127.0.1.1] h2.many.test/2[127.0.1.2] h3.many.test/3[127.0.1.3] " +
				"h4.many.test/4[127.0.1.4] h5.many.test/5[127.0.1.5]"},
		{"cap of 2 hosts", "many.test", func(r *mxresolve.Resolver) { r.MaxHosts = 2 },
			"h1.many.test/1[127.0.1.1] h2.many.test/2[127.0.1.2]"},
		{"null MX beside a real one is ignored", "halfnull.test", nil, "mx.halfnull.test/10[127.0.0.2]"},
		{"unresolvable host skipped", "skip.test", nil, "ok.skip.test/20[127.0.0.2]"},
		{"IP literal target skipped", "iptarget.test", nil, "mx.iptarget.test/20[127.0.0.2]"},
		{"invalid target skipped", "badtarget.test", nil, "mx1.pref.test/20[127.0.0.2]"},
		{"MX target is a CNAME", "cname.test", nil, "alias.cname.test/10[127.0.0.7]"},
		{"CNAME target asked in turn", "stop.test", nil, "mx.stop.test/10[::1]"},
		{"domain is a CNAME", "pointer.test", nil,
			"mx1.pref.test/10[127.0.0.2] mx2.pref.test/20[127.0.0.3] mx3.pref.test/30[127.0.0.4]"},
		{"truncated UDP answers retried over TCP", "truncated.test", nil,
			"mx1.truncated.test/10[127.0.0.2] mx2.truncated.test/20[127.0.0.3]"},
		{"IDNA", "bücher.test", nil, "mx.xn--bcher-kva.test/10[127.0.0.8]"},
		{"IPv4 address literal", "[127.0.0.9]", nil, "[127.0.0.9]/0[127.0.0.9]*"},
		{"IPv6 address literal", "[IPv6:::1]", nil, "[IPv6:::1]/0[::1]*"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(s)
			if tt.adjust != nil {
				tt.adjust(r)
			}
			hosts, err := r.Lookup(context.Background(), tt.domain)
			if err != nil {
				t.Fatalf("Lookup(%q): %v", tt.domain, err)
			}
			if got := describe(hosts); got != tt.want {
				t.Errorf("Lookup(%q)\n got %s\nwant %s", tt.domain, got, tt.want)
			}
		})
	}
}

func TestLookupErrors(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name      string
		domain    string
		timeout   time.Duration
		kind      error
		permanent bool
		enhanced  string
		cause     error // also matched with errors.Is, when set
	}{
		{"NXDOMAIN", "nowhere.test", 0, mxresolve.ErrNXDomain, true, "5.1.2", nil},
		{"forced NXDOMAIN", "forcednx.test", 0, mxresolve.ErrNXDomain, true, "5.1.2", nil},
		{"CNAME to NXDOMAIN", "dangling.test", 0, mxresolve.ErrNXDomain, true, "5.1.2", nil},
		{"null MX", "null.test", 0, mxresolve.ErrNullMX, true, "5.1.10", nil},
		{"only null targets", "twonull.test", 0, mxresolve.ErrNullMX, true, "5.1.10", nil},
		{"SERVFAIL", "servfail.test", 0, mxresolve.ErrTemporary, false, "4.4.3", nil},
		{"REFUSED", "refused.test", 0, mxresolve.ErrTemporary, false, "4.4.3", nil},
		{"timeout", "drop.test", 100 * time.Millisecond, mxresolve.ErrTemporary, false, "4.4.3", os.ErrDeadlineExceeded},
		{"no MX and no address", "bare.test", 0, mxresolve.ErrNoAddress, true, "5.4.4", nil},
		{"every host NXDOMAIN or NODATA", "allgone.test", 0, mxresolve.ErrNoAddress, true, "5.4.4", nil},
		{"only host an IP literal", "onlyip.test", 0, mxresolve.ErrNoAddress, true, "5.4.4", nil},
		{"a host SERVFAIL, the other NXDOMAIN", "tempgone.test", 0, mxresolve.ErrTemporary, false, "4.4.3", nil},
		{"CNAME loop", "loop1.test", 0, mxresolve.ErrTemporary, false, "4.4.3", nil},
		{"invalid name", "a..b", 0, mxresolve.ErrInvalidDomain, true, "5.1.2", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(s)
			if tt.timeout > 0 {
				r.Timeout = tt.timeout
			}
			hosts, err := r.Lookup(context.Background(), tt.domain)
			if err == nil {
				t.Fatalf("Lookup(%q) = %s, want error", tt.domain, describe(hosts))
			}
			var e *mxresolve.Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v (%T) is not an *Error", err, err)
			}
			if !errors.Is(err, tt.kind) || e.Kind != tt.kind {
				t.Errorf("error %v: kind %v, want %v", err, e.Kind, tt.kind)
			}
			if e.Permanent != tt.permanent || e.Enhanced != tt.enhanced {
				t.Errorf("error %v: permanent %v %s, want %v %s", err, e.Permanent, e.Enhanced, tt.permanent, tt.enhanced)
			}
			if tt.cause != nil && !errors.Is(err, tt.cause) {
				t.Errorf("error %v does not wrap %v", err, tt.cause)
			}
		})
	}
}

// A null MX ends the lookup: not even an address is asked, so no
// connection can follow (RFC 7505 §3).
func TestNullMXAsksNoAddress(t *testing.T) {
	s := startServer(t)
	_, err := newResolver(s).Lookup(context.Background(), "null.test")
	if !errors.Is(err, mxresolve.ErrNullMX) {
		t.Fatalf("err = %v, want ErrNullMX", err)
	}
	for _, q := range s.Queries() {
		if q.Type != dns.TypeMX {
			t.Errorf("query after null MX: %s %s", q.Name, dns.TypeToString[q.Type])
		}
	}
}

func TestTruncatedUsesTCP(t *testing.T) {
	s := startServer(t)
	if _, err := newResolver(s).Lookup(context.Background(), "truncated.test"); err != nil {
		t.Fatal(err)
	}
	var udp, tcp int
	for _, q := range s.Queries() {
		if q.Name != "truncated.test." {
			continue
		}
		switch q.Net {
		case "udp":
			udp++
		case "tcp":
			tcp++
		}
	}
	if udp != 1 || tcp != 1 {
		t.Errorf("truncated.test MX asked %d times over UDP, %d over TCP; want 1 and 1", udp, tcp)
	}
}

// Over many lookups with the default shuffle, both orders of the two
// equal hosts happen; the better host always comes first.
func TestLookupShufflesEqualPreferences(t *testing.T) {
	s := startServer(t)
	r := newResolver(s)
	r.Shuffle = rand.New(rand.NewPCG(7, 7)).Shuffle // not shared: this test is sequential
	seen := map[string]int{}
	for i := 0; i < 200 && len(seen) < 2; i++ {
		hosts, err := r.Lookup(context.Background(), "equal.test")
		if err != nil {
			t.Fatal(err)
		}
		if hosts[0].Name != "best.equal.test" {
			t.Fatalf("shuffle crossed preferences: %s", describe(hosts))
		}
		seen[hosts[1].Name]++
	}
	if len(seen) != 2 {
		t.Errorf("orders seen: %v, want both a and b second", seen)
	}
}

// Cancelling the context ends a lookup stuck on an unanswered query at
// once, well before Timeout.
func TestLookupCancel(t *testing.T) {
	s := startServer(t)
	r := newResolver(s)
	r.Timeout = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := r.Lookup(ctx, "drop.test")
		done <- err
	}()
	waitFor(t, func() bool { return s.Count("drop.test", dns.TypeMX) > 0 })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, mxresolve.ErrTemporary) || !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want ErrTemporary wrapping context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("Lookup still running %v after cancel", time.Since(start))
	}
}

func TestErrorString(t *testing.T) {
	s := startServer(t)
	_, err := newResolver(s).Lookup(context.Background(), "servfail.test")
	want := "MX lookup for servfail.test: MX query failed: DNS server error: SERVFAIL for servfail.test MX"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// An address literal needs no DNS server at all, not even resolv.conf.
func TestAddressLiteralNeedsNoServer(t *testing.T) {
	r := &mxresolve.Resolver{Server: "127.0.0.1:1"}
	hosts, err := r.Lookup(context.Background(), "[127.0.0.1]")
	if err != nil || describe(hosts) != "[127.0.0.1]/0[127.0.0.1]*" {
		t.Errorf("Lookup = %s, %v", describe(hosts), err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: CI machines are slow under -race
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(time.Millisecond)
	}
}
