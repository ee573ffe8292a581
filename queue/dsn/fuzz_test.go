package dsn

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBuild feeds arbitrary header blocks, diagnostics, addresses and
// boundary seeds to Build. Whatever the input, Build either rejects it as
// invalid or returns a notice that parses with the standard library, keeps
// CRLF line ends and the 998-octet line limit, is 7-bit unless it needs
// SMTPUTF8, and carries the cleaned headers and diagnostic intact.
func FuzzBuild(f *testing.F) {
	f.Add([]byte("From: a@example.com\r\nSubject: hi\r\n\r\nbody"), "550 5.1.1 user unknown", "bob@example.net", "alice@example.com", 550, true, "")
	f.Add([]byte("Subject: --b\n--b--\n"), "451 --b.1", "bob@example.net", "alice@example.com", 451, false, "b")
	f.Add([]byte("X: \xff\x00\r\r\n"+string(bytes.Repeat([]byte("y"), 3000))), "\r\n.\r\n", "jörg@bücher.example", "用户@例子.example", 0, true, "=_x")
	f.Fuzz(func(t *testing.T, headers []byte, diag, rcpt, sender string, code int, failed bool, seed string) {
		action := Delayed
		if failed {
			action = Failed
		}
		n := &Notice{
			ReportingMTA: "mx.example.com",
			QueueID:      "Q1",
			Sender:       sender,
			Arrival:      arrival,
			Now:          now,
			Boundary:     seed,
			MessageID:    "fuzz@mx.example.com",
			Headers:      headers,
			Recipients: []Recipient{{
				Addr: rcpt, Action: action, Code: code, Diagnostic: diag,
				RemoteMTA: "mx.example.net", LastAttempt: now, WillRetryUntil: now,
			}},
		}
		raw, err := Build(n)
		if err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNullSender) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if err := checkLines(raw); err != nil {
			t.Fatal(err)
		}
		if !n.SMTPUTF8() && !isASCII(string(raw)) {
			t.Fatal("8-bit octets in a notice sent without SMTPUTF8")
		}
		p, err := parseNotice(raw)
		if err != nil {
			t.Fatalf("does not parse: %v\n%s", err, raw)
		}
		want, _ := CleanHeaders(headers)
		switch {
		case len(want) == 0 && len(p.Parts) != 2:
			t.Fatalf("%d parts without headers, want 2", len(p.Parts))
		case len(want) > 0 && (len(p.Parts) != 3 || !bytes.Equal(p.Parts[2].Body, want)):
			t.Fatalf("headers part differs from CleanHeaders")
		}
		if len(p.Rcpts) != 1 {
			t.Fatalf("%d recipient blocks, want 1", len(p.Rcpts))
		}
		r := p.Rcpts[0]
		if got := r.Get("Final-Recipient"); squash(got) != squash(addrType(rcpt)) {
			t.Fatalf("Final-Recipient = %q, want %q", got, addrType(rcpt))
		}
		if got, want := r.Get("Diagnostic-Code"), diagnosticCode(&n.Recipients[0]); squash(got) != squash(want) {
			t.Fatalf("Diagnostic-Code = %q, want %q", got, want)
		}
		if got := r.Get("Status"); !validStatus(got) {
			t.Fatalf("Status %q is malformed", got)
		}
		if got := r.Get("Action"); got != string(action) {
			t.Fatalf("Action = %q", got)
		}
	})
}
