package mxresolve_test

import (
	"context"
	"errors"
	"testing"

	"github.com/outbox-mta/outbox/mxresolve"
	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

// secureZone is signed (the server sets AD) except for the names made
// Insecure in each case.
var secureZone = []string{
	"dane.test. MX 10 mx.dane.test.",
	"mx.dane.test. A 127.0.0.2",
	"mx.dane.test. AAAA ::1",
	"_25._tcp.mx.dane.test. TLSA 3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"_25._tcp.alias.dane.test. CNAME _25._tcp.mx.dane.test.",
}

// TestSecure checks Host.Secure and TLSA.Secure: set only when the
// resolver is marked Validating and every answer that led to the data
// carried AD.
func TestSecure(t *testing.T) {
	cases := []struct {
		name       string
		validating bool
		insecure   []string
		wantHost   bool
		wantTLSA   bool
	}{
		{name: "all validated", validating: true, wantHost: true, wantTLSA: true},
		{name: "resolver not trusted: AD ignored", validating: false},
		{name: "MX unsigned", validating: true, insecure: []string{"dane.test"}, wantTLSA: true},
		{name: "A unsigned", validating: true, insecure: []string{"mx.dane.test"}, wantTLSA: true},
		{name: "TLSA unsigned", validating: true, insecure: []string{"_25._tcp.mx.dane.test"}, wantHost: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &dnstest.Server{Zone: dnstest.Zone(t, secureZone...), AD: true, Insecure: map[string]bool{}}
			for _, n := range c.insecure {
				s.Insecure[n] = true
			}
			s.Start(t)
			r := &mxresolve.Resolver{Server: s.Addr(), Validating: c.validating}
			hosts, err := r.Lookup(context.Background(), "dane.test")
			if err != nil || len(hosts) != 1 {
				t.Fatalf("Lookup: %v %v", hosts, err)
			}
			if hosts[0].Secure != c.wantHost {
				t.Errorf("Host.Secure = %v, want %v", hosts[0].Secure, c.wantHost)
			}
			tl, err := r.LookupTLSA(context.Background(), hosts[0].Name, 25)
			if err != nil || len(tl.Records) != 1 || tl.Name != "_25._tcp.mx.dane.test" {
				t.Fatalf("LookupTLSA: %+v %v", tl, err)
			}
			if tl.Secure != c.wantTLSA {
				t.Errorf("TLSA.Secure = %v, want %v", tl.Secure, c.wantTLSA)
			}
		})
	}
}

// TestLookupTLSA checks the verdicts: records (through a CNAME), none
// (NXDOMAIN: a secure denial), and a failure, which is temporary.
func TestLookupTLSA(t *testing.T) {
	s := &dnstest.Server{Zone: dnstest.Zone(t, secureZone...), AD: true,
		Behaviors: map[string]dnstest.Behavior{"_25._tcp.bogus.dane.test": dnstest.ServFail}}
	s.Start(t)
	r := &mxresolve.Resolver{Server: s.Addr(), Validating: true}
	ctx := context.Background()

	tl, err := r.LookupTLSA(ctx, "alias.dane.test.", 25)
	if err != nil || len(tl.Records) != 1 || !tl.Secure || tl.Records[0].Usage != 3 {
		t.Errorf("through CNAME: %+v %v", tl, err)
	}
	tl, err = r.LookupTLSA(ctx, "other.dane.test", 25)
	if err != nil || tl.Records != nil || !tl.Secure {
		t.Errorf("NXDOMAIN: %+v %v, want no records, secure", tl, err)
	}
	_, err = r.LookupTLSA(ctx, "bogus.dane.test", 25)
	var me *mxresolve.Error
	if !errors.As(err, &me) || !errors.Is(err, mxresolve.ErrTemporary) || me.Permanent {
		t.Errorf("SERVFAIL: %v, want a temporary *Error", err)
	}
}
