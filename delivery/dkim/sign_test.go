package dkim_test

import (
	"bytes"
	"crypto"
	"slices"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/outbox-mta/outbox/delivery/dkim"
)

// signMessage signs msg as the listener does: fields from its header,
// Signing fed in small writes, prefix in front.
func signMessage(t testing.TB, k *dkim.Keys, msg string) (signed string, labels []string) {
	t.Helper()
	hdr, _, _ := strings.Cut(msg, "\r\n\r\n")
	var from string
	var fields []string
	for line := range strings.SplitSeq(hdr, "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, v, _ := strings.Cut(line, ":")
		fields = append(fields, name)
		if strings.EqualFold(name, "From") && from == "" {
			from = strings.TrimSpace(v)
		}
	}
	s, err := k.Sign(from, fields)
	if err != nil {
		t.Fatal(err)
	}
	if s == nil {
		return msg, nil
	}
	for b := []byte(msg); len(b) > 0; {
		n := min(len(b), 7) // split CRLFs across writes
		if _, err := s.Write(b[:n]); err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
	prefix, labels, err := s.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return string(prefix) + msg, labels
}

// verify checks every signature with go-msgauth against the test DNS and
// returns the signing domain/selector of each valid one.
func verify(t testing.TB, msg string, lookup func(string) ([]string, error)) []string {
	t.Helper()
	vs, err := msgauth.VerifyWithOptions(strings.NewReader(msg), &msgauth.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatal(err)
	}
	var ok []string
	for _, v := range vs {
		if v.Err != nil {
			t.Errorf("signature d=%s: %v", v.Domain, v.Err)
			continue
		}
		ok = append(ok, v.Domain)
	}
	return ok
}

func TestSignVerifies(t *testing.T) {
	long := "Subject: " + strings.Repeat("a very long subject line ", 60) + "\r\n"
	folded := "To: a@example.net,\r\n\tb@example.net,\r\n  c@example.net\r\n"
	tests := []struct {
		name, msg string
	}{
		{"simple", "From: app@example.com\r\nTo: x@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"},
		{"long header", "From: App <app@example.com>\r\n" + long + folded + "\r\nbody\r\n"},
		{"8-bit body", "From: app@example.com\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße, naïve café — ☃\r\n\xff\xfe raw bytes\r\n"},
		{"no trailing CRLF", "From: app@example.com\r\nSubject: x\r\n\r\nlast line without CRLF"},
		{"empty body", "From: app@example.com\r\n\r\n"},
		{"trailing blank lines and spaces", "From: app@example.com\r\nSubject:   spaced   out  \r\n\r\nline  with  spaces \t\r\n\r\n\r\n"},
		{"subdomain From", "From: x@news.example.com\r\n\r\nhi\r\n"},
	}
	k, sel := newKeys(t, "example.com")
	lookup := dnsFor(t, "example.com", sel)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signed, labels := signMessage(t, k, tt.msg)
			want := []string{"example.com/rsa1 (rsa-sha256)", "example.com/ed1 (ed25519-sha256)"}
			if !slices.Equal(labels, want) {
				t.Errorf("labels = %q, want %q", labels, want)
			}
			if got := verify(t, signed, lookup); len(got) != 2 {
				t.Errorf("%d valid signatures, want 2:\n%s", len(got), signed)
			}
		})
	}
}

func TestUnsignedWithoutKey(t *testing.T) {
	k, _ := newKeys(t, "example.com")
	for _, from := range []string{"app@other.org", "app@example.com.evil.org", "no address", "", "app@com"} {
		s, err := k.Sign(from, []string{"From"})
		if s != nil || err != nil {
			t.Errorf("Sign(%q) = %v, %v; want unsigned", from, s, err)
		}
	}
	var nilKeys *dkim.Keys
	if s, err := nilKeys.Sign("a@example.com", nil); s != nil || err != nil {
		t.Errorf("nil Keys signed")
	}
}

func TestFallbackDomain(t *testing.T) {
	_, e := keys(t)
	k, err := dkim.NewKeys([]dkim.Domain{{Name: "Relay.Example", Keys: []dkim.Key{{Selector: "s", Signer: e}}}}, "relay.example.", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: someone@customer.org\r\nSubject: x\r\n\r\nhi\r\n"
	signed, labels := signMessage(t, k, msg)
	if !slices.Equal(labels, []string{"relay.example/s (ed25519-sha256)"}) {
		t.Fatalf("labels %q", labels)
	}
	if got := verify(t, signed, dnsFor(t, "relay.example", map[string]crypto.Signer{"s": e})); len(got) != 1 {
		t.Errorf("fallback signature does not verify")
	}
}

func TestHeaderList(t *testing.T) {
	_, e := keys(t)
	now := time.Unix(1_700_000_000, 0)
	k, err := dkim.NewKeys([]dkim.Domain{{Name: "example.com", Expiry: 48 * time.Hour,
		Keys: []dkim.Key{{Selector: "s", Signer: e}}}}, "", func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	msg := "Received: x\r\nFrom: a@example.com\r\nto: b@example.net\r\nX-Mailer: y\r\nSubject: z\r\n\r\n"
	signed, _ := signMessage(t, k, msg)
	sig, _, _ := strings.Cut(signed, "Received:")
	sig = strings.Join(strings.Fields(sig), "")
	if !strings.Contains(sig, "h=From:To:Subject:From;") {
		t.Errorf("want h=From:To:Subject:From (present fields, From over-signed) in %s", sig)
	}
	if !strings.Contains(sig, "x=1700172800") || !strings.Contains(sig, "c=relaxed/relaxed") {
		t.Errorf("want x= 48h after now and relaxed/relaxed in %s", sig)
	}
	// Over-signing: a second From added in transit breaks the signature.
	forged := strings.Replace(signed, "Received: x\r\n", "Received: x\r\nFrom: evil@attacker.example\r\n", 1)
	vs, err := msgauth.VerifyWithOptions(strings.NewReader(forged), &msgauth.VerifyOptions{
		LookupTXT: dnsFor(t, "example.com", map[string]crypto.Signer{"s": e})})
	if err != nil || len(vs) != 1 || vs[0].Err == nil {
		t.Errorf("forged From still verifies: %v %+v", err, vs)
	}
}

// TestHeaderOnly: a message that ends inside its header cannot be signed
// and is left unsigned rather than refused.
func TestHeaderOnly(t *testing.T) {
	k, _ := newKeys(t, "example.com")
	s, err := k.Sign("a@example.com", []string{"From"})
	if err != nil || s == nil {
		t.Fatal(s, err)
	}
	s.Write([]byte("From: a@example.com\r\nSubject: no blank line"))
	prefix, labels, err := s.Finish()
	if prefix != nil || labels != nil || err != nil {
		t.Errorf("Finish = %q, %q, %v; want unsigned", prefix, labels, err)
	}
}

func TestNewKeysErrors(t *testing.T) {
	_, e := keys(t)
	good := dkim.Key{Selector: "s", Signer: e}
	tests := []struct {
		name     string
		domains  []dkim.Domain
		fallback string
		want     string
	}{
		{"no key", []dkim.Domain{{Name: "example.com"}}, "", "has no key"},
		{"no selector", []dkim.Domain{{Name: "example.com", Keys: []dkim.Key{{Signer: e}}}}, "", "no selector"},
		{"nil signer", []dkim.Domain{{Name: "example.com", Keys: []dkim.Key{{Selector: "s"}}}}, "", "no key"},
		{"twice", []dkim.Domain{{Name: "example.com", Keys: []dkim.Key{good}}, {Name: "EXAMPLE.com", Keys: []dkim.Key{good}}}, "", "listed twice"},
		{"bad fallback", []dkim.Domain{{Name: "example.com", Keys: []dkim.Key{good}}}, "other.org", "fallback domain other.org has no key"},
		{"bad name", []dkim.Domain{{Name: "nodot", Keys: []dkim.Key{good}}}, "", "not a domain name"},
	}
	for _, tt := range tests {
		if _, err := dkim.NewKeys(tt.domains, tt.fallback, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestHolderSwap(t *testing.T) {
	var h dkim.Holder
	if s, err := h.Sign("a@example.com", nil); s != nil || err != nil {
		t.Fatal("empty Holder signed")
	}
	k, _ := newKeys(t, "example.com")
	h.Store(k)
	s, err := h.Sign("a@example.com", []string{"From"})
	if s == nil || err != nil {
		t.Fatalf("Holder with keys: %v, %v", s, err)
	}
	h.Store(nil) // a message in progress keeps its keys
	s.Write([]byte("From: a@example.com\r\n\r\nx\r\n"))
	if p, _, err := s.Finish(); err != nil || !bytes.HasPrefix(p, []byte("DKIM-Signature:")) {
		t.Errorf("Finish after swap: %q %v", p, err)
	}
}

func BenchmarkSign4KiB(b *testing.B) {
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 4096/78)
	msg := "From: app@example.com\r\nTo: x@example.net\r\nSubject: bench\r\n\r\n" + body
	r, e := keys(b)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
	}{{"rsa2048", r}, {"ed25519", e}} {
		k, err := dkim.NewKeys([]dkim.Domain{{Name: "example.com", Keys: []dkim.Key{{Selector: "s", Signer: tc.key}}}}, "", nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				signMessageFast(b, k, msg)
			}
		})
	}
}

func BenchmarkSign25MiB(b *testing.B) {
	line := strings.Repeat("y", 76) + "\r\n"
	body := []byte(strings.Repeat(line, 25<<20/len(line)))
	_, e := keys(b)
	k, _ := dkim.NewKeys([]dkim.Domain{{Name: "example.com", Keys: []dkim.Key{{Selector: "s", Signer: e}}}}, "", nil)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s, _ := k.Sign("a@example.com", []string{"From"})
		s.Write([]byte("From: a@example.com\r\n\r\n"))
		for p := body; len(p) > 0; p = p[min(len(p), 32<<10):] {
			s.Write(p[:min(len(p), 32<<10)])
		}
		if _, _, err := s.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// signMessageFast signs in 32 KiB writes, as io.Copy does.
func signMessageFast(b *testing.B, k *dkim.Keys, msg string) {
	s, err := k.Sign("app@example.com", []string{"From", "To", "Subject"})
	if err != nil {
		b.Fatal(err)
	}
	s.Write([]byte(msg))
	if _, _, err := s.Finish(); err != nil {
		b.Fatal(err)
	}
}
