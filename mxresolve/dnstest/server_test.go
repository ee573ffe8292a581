package dnstest

import (
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func ask(t *testing.T, s *Server, network, name string, qtype uint16) (*dns.Msg, error) {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Net: network, Timeout: 250 * time.Millisecond}
	resp, _, err := c.Exchange(m, s.Addr())
	return resp, err
}

// summary renders an answer as "RCODE; owner TYPE data; ..." (no TTL, class).
func summary(resp *dns.Msg) string {
	parts := []string{dns.RcodeToString[resp.Rcode]}
	if resp.Truncated {
		parts[0] += " TC"
	}
	for _, rr := range resp.Answer {
		f := strings.Fields(rr.String())
		parts = append(parts, f[0]+" "+strings.Join(f[3:], " "))
	}
	return strings.Join(parts, "; ")
}

func TestServer(t *testing.T) {
	s := &Server{
		Zone: Zone(t,
			"example.test. MX 10 mx.example.test.",
			"example.test. MX 20 mx2.example.test.",
			"mx.example.test. A 127.0.0.2",
			"www.example.test. CNAME mx.example.test.",
			"alias.example.test. CNAME gone.example.test.",
			"stop.example.test. CNAME mx.example.test.",
			"x.ent.example.test. A 127.0.0.3",
			"big.example.test. TXT \"hello\"",
		),
		Behaviors: map[string]Behavior{
			"fail.example.test":    ServFail,
			"REFUSE.example.test.": Refused,
			"mx.example.test":      Answer,
			"nx.example.test":      NXDomain,
			"big.example.test":     Truncate,
			"stop.example.test":    CNAMEOnly,
		},
	}
	s.Start(t)

	tests := []struct {
		network, name string
		qtype         uint16
		want          string
	}{
		{"udp", "example.test", dns.TypeMX, "NOERROR; example.test. MX 10 mx.example.test.; example.test. MX 20 mx2.example.test."},
		{"tcp", "EXAMPLE.test", dns.TypeMX, "NOERROR; example.test. MX 10 mx.example.test.; example.test. MX 20 mx2.example.test."},
		{"udp", "example.test", dns.TypeA, "NOERROR"},          // NODATA
		{"udp", "ent.example.test", dns.TypeA, "NOERROR"},      // empty non-terminal (RFC 8020)
		{"udp", "missing.example.test", dns.TypeA, "NXDOMAIN"}, // no such name
		{"udp", "www.example.test", dns.TypeA, "NOERROR; www.example.test. CNAME mx.example.test.; mx.example.test. A 127.0.0.2"},
		{"udp", "www.example.test", dns.TypeCNAME, "NOERROR; www.example.test. CNAME mx.example.test."},
		{"udp", "alias.example.test", dns.TypeA, "NXDOMAIN; alias.example.test. CNAME gone.example.test."},
		{"udp", "stop.example.test", dns.TypeA, "NOERROR; stop.example.test. CNAME mx.example.test."},
		{"udp", "fail.example.test", dns.TypeMX, "SERVFAIL"},
		{"udp", "refuse.example.test", dns.TypeMX, "REFUSED"},
		{"udp", "nx.example.test", dns.TypeMX, "NXDOMAIN"},
		{"udp", "big.example.test", dns.TypeTXT, "NOERROR TC"},
		{"tcp", "big.example.test", dns.TypeTXT, "NOERROR; big.example.test. TXT \"hello\""},
	}
	for _, tt := range tests {
		resp, err := ask(t, s, tt.network, tt.name, tt.qtype)
		if err != nil {
			t.Errorf("%s %s %s: %v", tt.network, tt.name, dns.TypeToString[tt.qtype], err)
			continue
		}
		if got := summary(resp); got != tt.want {
			t.Errorf("%s %s %s:\n got %s\nwant %s", tt.network, tt.name, dns.TypeToString[tt.qtype], got, tt.want)
		}
	}

	want := Query{Name: "big.example.test.", Type: dns.TypeTXT, Net: "tcp"}
	if !slices.Contains(s.Queries(), want) {
		t.Errorf("Queries() lacks %+v", want)
	}
	if n := s.Count("EXAMPLE.test", dns.TypeMX); n != 2 {
		t.Errorf("Count(example.test, MX) = %d, want 2", n)
	}
}

func TestServerChangesWhileRunning(t *testing.T) {
	s := &Server{}
	s.Start(t)
	if resp, err := ask(t, s, "udp", "late.test", dns.TypeA); err != nil || resp.Rcode != dns.RcodeNameError {
		t.Fatalf("before Add: %v %v", resp, err)
	}
	s.Add(t, "late.test. A 127.0.0.4")
	if resp, err := ask(t, s, "udp", "late.test", dns.TypeA); err != nil || summary(resp) != "NOERROR; late.test. A 127.0.0.4" {
		t.Fatalf("after Add: %v %v", resp, err)
	}
	s.Set("late.test.", ServFail)
	if resp, err := ask(t, s, "udp", "late.test", dns.TypeA); err != nil || resp.Rcode != dns.RcodeServerFailure {
		t.Fatalf("after Set: %v %v", resp, err)
	}
}

func TestServerDrop(t *testing.T) {
	s := &Server{Behaviors: map[string]Behavior{"silent.test": Drop}}
	s.Start(t)
	for _, network := range []string{"udp", "tcp"} {
		_, err := ask(t, s, network, "silent.test", dns.TypeMX)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Errorf("%s: err = %v, want a timeout", network, err)
		}
	}
	if n := s.Count("silent.test", dns.TypeMX); n != 2 {
		t.Errorf("Count = %d, want 2 (the query is still recorded)", n)
	}
}

// Negative answers carry the SOA of the enclosing zone when the table has
// one (RFC 2308 §3), and none otherwise.
func TestServerNegativeAnswersCarrySOA(t *testing.T) {
	s := &Server{
		Zone: Zone(t,
			"soa.test. 3600 SOA ns.soa.test. admin.soa.test. 1 7200 900 1209600 60",
			"mx.soa.test. A 127.0.0.2",
			"other.test. A 127.0.0.3",
		),
		Behaviors: map[string]Behavior{"forced.soa.test": NXDomain},
	}
	s.Start(t)
	tests := []struct {
		name    string
		qtype   uint16
		rcode   int
		wantSOA bool
	}{
		{"mx.soa.test", dns.TypeAAAA, dns.RcodeSuccess, true},     // NODATA
		{"gone.soa.test", dns.TypeMX, dns.RcodeNameError, true},   // NXDOMAIN
		{"forced.soa.test", dns.TypeMX, dns.RcodeNameError, true}, // NXDOMAIN by behavior
		{"soa.test", dns.TypeMX, dns.RcodeSuccess, true},          // NODATA at the apex
		{"other.test", dns.TypeAAAA, dns.RcodeSuccess, false},     // no SOA in the table
		{"mx.soa.test", dns.TypeA, dns.RcodeSuccess, false},       // an answer has no SOA
	}
	for _, tt := range tests {
		resp, err := ask(t, s, "udp", tt.name, tt.qtype)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.name, dns.TypeToString[tt.qtype], err)
		}
		gotSOA := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == dns.TypeSOA && resp.Ns[0].Header().Name == "soa.test."
		if resp.Rcode != tt.rcode || gotSOA != tt.wantSOA {
			t.Errorf("%s %s: rcode %s, authority %v; want rcode %s, SOA %v", tt.name, dns.TypeToString[tt.qtype],
				dns.RcodeToString[resp.Rcode], resp.Ns, dns.RcodeToString[tt.rcode], tt.wantSOA)
		}
	}
}

// A held name's queries are recorded at once and answered on release.
func TestServerHold(t *testing.T) {
	s := &Server{Zone: Zone(t, "held.test. A 127.0.0.2")}
	s.Start(t)
	release := s.Hold(t, "HELD.test")
	done := make(chan string, 1)
	go func() {
		resp, err := ask(t, s, "udp", "held.test", dns.TypeA)
		if err != nil {
			done <- err.Error()
			return
		}
		done <- summary(resp)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for s.Count("held.test", dns.TypeA) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("query never arrived")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case got := <-done:
		t.Fatalf("answered while held: %s", got)
	default:
	}
	release()
	if got := <-done; got != "NOERROR; held.test. A 127.0.0.2" {
		t.Errorf("after release: %s", got)
	}
}
