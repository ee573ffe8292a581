package dsn

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// valid returns a minimal valid notice; tests break one field each.
func valid() *Notice {
	return &Notice{
		ReportingMTA: "mx.example.com",
		Sender:       "alice@example.com",
		Now:          now,
		Recipients:   []Recipient{{Addr: "bob@example.net", Action: Failed, Code: 550, Diagnostic: "550 no"}},
	}
}

func TestBuildRejects(t *testing.T) {
	tests := []struct {
		name   string
		modify func(n *Notice)
		want   error
		text   string // part of the error message naming the problem
	}{
		{"null sender", func(n *Notice) { n.Sender = "" }, ErrNullSender, "null sender"},
		{"no recipients", func(n *Notice) { n.Recipients = nil }, ErrNoRecipients, "no recipients"},
		{"no host", func(n *Notice) { n.ReportingMTA = "" }, ErrInvalid, "ReportingMTA"},
		{"host with space", func(n *Notice) { n.ReportingMTA = "mx example" }, ErrInvalid, "ReportingMTA"},
		{"sender with CRLF", func(n *Notice) { n.Sender = "a@b\r\nBcc: x@y" }, ErrInvalid, "Sender"},
		{"sender with bracket", func(n *Notice) { n.Sender = "a@b>" }, ErrInvalid, "Sender"},
		{"sender too long", func(n *Notice) { n.Sender = strings.Repeat("a", 400) + "@b" }, ErrInvalid, "Sender"},
		{"sender bad UTF-8", func(n *Notice) { n.Sender = "\xff@b" }, ErrInvalid, "Sender"},
		{"recipient empty", func(n *Notice) { n.Recipients[0].Addr = "" }, ErrInvalid, "recipient 0"},
		{"unknown action", func(n *Notice) { n.Recipients[0].Action = "delivered" }, ErrInvalid, "action"},
		{"code out of range", func(n *Notice) { n.Recipients[0].Code = 999 }, ErrInvalid, "reply code"},
		{"bad remote MTA", func(n *Notice) { n.Recipients[0].RemoteMTA = "mx;evil" }, ErrInvalid, "RemoteMTA"},
		{"queue ID with space", func(n *Notice) { n.QueueID = "a b" }, ErrInvalid, "QueueID"},
		{"envelope ID too long", func(n *Notice) { n.EnvelopeID = strings.Repeat("x", 101) }, ErrInvalid, "EnvelopeID"},
		{"message ID with bracket", func(n *Notice) { n.MessageID = "<a@b>" }, ErrInvalid, "MessageID"},
		{"boundary with bad character", func(n *Notice) { n.Boundary = "a\"b" }, ErrInvalid, "boundary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := valid()
			tt.modify(n)
			out, err := Build(n)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Build error = %v, want %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.text) {
				t.Errorf("error %q does not mention %q", err, tt.text)
			}
			if out != nil {
				t.Error("output returned with an error")
			}
		})
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		r    Recipient
		want string
	}{
		{Recipient{Action: Failed, Status: "5.1.1", Code: 550}, "5.1.1"},
		{Recipient{Action: Failed, Status: "5.1.10"}, "5.1.10"},
		{Recipient{Action: Failed, Status: "4.4.7", Code: 451}, "4.4.7"}, // expired keeps 4.x.x
		{Recipient{Action: Failed, Code: 554}, "5.0.0"},
		{Recipient{Action: Failed, Code: 421}, "4.0.0"},
		{Recipient{Action: Failed}, "5.0.0"},
		{Recipient{Action: Failed, Status: "2.0.0", Code: 550}, "5.0.0"}, // success class makes no sense here
		{Recipient{Action: Failed, Status: "5.1", Code: 550}, "5.0.0"},
		{Recipient{Action: Failed, Status: "5.1.1234", Code: 550}, "5.0.0"},
		{Recipient{Action: Failed, Status: "5.x.1", Code: 550}, "5.0.0"},
		{Recipient{Action: Failed, Status: "5.1.1 ", Code: 550}, "5.0.0"},
		{Recipient{Action: Delayed, Status: "4.4.1", Code: 0}, "4.4.1"},
		{Recipient{Action: Delayed, Status: "5.1.1", Code: 550}, "4.0.0"}, // never 5.x.x when delayed
		{Recipient{Action: Delayed}, "4.0.0"},
	}
	for _, tt := range tests {
		if got := status(&tt.r); got != tt.want {
			t.Errorf("status(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestDiagnosticCode(t *testing.T) {
	tests := []struct {
		r    Recipient
		want string
	}{
		{Recipient{Code: 550, Diagnostic: "550 5.1.1 unknown"}, "smtp; 550 5.1.1 unknown"},
		{Recipient{Code: 550}, "smtp; 550"},
		{Recipient{Diagnostic: "no MX for example.net"}, "X-Outbox; no MX for example.net"},
		{Recipient{}, ""},
		{Recipient{Code: 550, Diagnostic: "550-first line\r\n550 second\tline\x00"}, "smtp; 550-first line 550 second line"},
		{Recipient{Diagnostic: "bad \xff byte"}, "X-Outbox; bad \uFFFD byte"},
	}
	for _, tt := range tests {
		if got := diagnosticCode(&tt.r); got != tt.want {
			t.Errorf("diagnosticCode(%+v) = %q, want %q", tt.r, got, tt.want)
		}
	}
}

func TestHostName(t *testing.T) {
	tests := map[string]string{
		"mx.example.com[192.0.2.1]:25":   "mx.example.com",
		"mx.example.com[2001:db8::1]:25": "mx.example.com",
		"[192.0.2.1]:25":                 "[192.0.2.1]",
		"mx.example.com:587":             "mx.example.com",
		"mx.example.com":                 "mx.example.com",
		"":                               "",
	}
	for in, want := range tests {
		if got := HostName(in); got != want {
			t.Errorf("HostName(%q) = %q, want %q", in, got, want)
		}
		if want != "" {
			if err := checkHost(HostName(in)); err != nil {
				t.Errorf("HostName(%q) = %q is not accepted as RemoteMTA: %v", in, want, err)
			}
		}
	}
}

func TestSubjectAndSMTPUTF8(t *testing.T) {
	tests := []struct {
		name     string
		modify   func(n *Notice)
		subject  string
		smtputf8 bool
	}{
		{"failed", func(n *Notice) {}, SubjectFailed, false},
		{"delayed", func(n *Notice) { n.Recipients[0].Action = Delayed }, SubjectDelayed, false},
		{"mixed is a bounce", func(n *Notice) {
			n.Recipients = append(n.Recipients, Recipient{Addr: "c@example.org", Action: Delayed})
		}, SubjectFailed, false},
		{"utf-8 sender", func(n *Notice) { n.Sender = "josé@example.com" }, SubjectFailed, true},
		{"utf-8 recipient only", func(n *Notice) { n.Recipients[0].Addr = "josé@example.com" }, SubjectFailed, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := valid()
			tt.modify(n)
			raw, err := Build(n)
			if err != nil {
				t.Fatal(err)
			}
			p, err := parseNotice(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Header.Get("Subject"); got != tt.subject {
				t.Errorf("Subject = %q, want %q", got, tt.subject)
			}
			if n.SMTPUTF8() != tt.smtputf8 {
				t.Errorf("SMTPUTF8() = %v, want %v", n.SMTPUTF8(), tt.smtputf8)
			}
			// Without SMTPUTF8 the notice must be 7-bit clean.
			if !tt.smtputf8 && !isASCII(string(raw)) {
				t.Error("notice has 8-bit octets although it is not sent with SMTPUTF8")
			}
		})
	}
}

func TestBuildDefaults(t *testing.T) {
	n := valid()
	n.Now = time.Time{}
	a, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	pa, err := parseNotice(a)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := parseNotice(b)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := pa.Header.Date(); err != nil || time.Since(d) > time.Minute || time.Since(d) < -time.Minute {
		t.Errorf("Date = %v, %v; want about now", d, err)
	}
	idA, idB := pa.Header.Get("Message-ID"), pb.Header.Get("Message-ID")
	if idA == idB || !strings.HasSuffix(idA, "@mx.example.com>") {
		t.Errorf("Message-IDs %q and %q: want distinct, at the reporting host", idA, idB)
	}
	if _, params, _ := mimeParams(a); params["boundary"] == "" {
		t.Error("no boundary")
	}
	if len(pa.Parts) != 2 {
		t.Errorf("%d parts without original headers, want 2", len(pa.Parts))
	}
}

// TestBoundaryAvoidsContent gives content that contains the boundary seed:
// Build must pick another one, and the notice must still parse whole.
func TestBoundaryAvoidsContent(t *testing.T) {
	n := valid()
	n.Boundary = "b"
	n.Headers = []byte("Subject: --b\r\nX-Trap: --b.1\r\n--b--\r\n")
	n.Recipients[0].Diagnostic = "550 --b.2 --b.3"
	raw, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	_, params, err := mimeParams(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := params["boundary"]; got != "b.4" {
		t.Errorf("boundary = %q, want b.4", got)
	}
	p, err := parseNotice(raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Parts) != 3 {
		t.Fatalf("%d parts, want 3", len(p.Parts))
	}
	if want, _ := CleanHeaders(n.Headers); !bytes.Equal(p.Parts[2].Body, want) {
		t.Errorf("headers part = %q, want %q", p.Parts[2].Body, want)
	}
}

// TestLongDiagnosticFolds checks a reply far over any line limit: folded
// fields, wrapped text, capped length.
func TestLongDiagnosticFolds(t *testing.T) {
	n := valid()
	n.Recipients[0].Diagnostic = "550 " + strings.Repeat("word ", 300) + strings.Repeat("x", 3000)
	raw, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkLines(raw); err != nil {
		t.Fatal(err)
	}
	p, err := parseNotice(raw)
	if err != nil {
		t.Fatal(err)
	}
	d := p.Rcpts[0].Get("Diagnostic-Code")
	want := "smtp; " + clean(n.Recipients[0].Diagnostic, MaxDiagnosticBytes)
	if squash(d) != squash(want) {
		t.Errorf("Diagnostic-Code = %q, want %q", d, want)
	}
	if !strings.HasSuffix(d, "...") || len(want) > MaxDiagnosticBytes+len("smtp; ") {
		t.Errorf("diagnostic not capped: %d octets", len(want))
	}
}
