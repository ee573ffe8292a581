package dsn

import (
	"bytes"
	"flag"
	"net/mail"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var (
	arrival = time.Date(2025, 3, 10, 9, 15, 0, 0, time.UTC)
	now     = time.Date(2025, 3, 10, 13, 20, 30, 0, time.UTC)
)

const origHeaders = "Received: from app.example.com (localhost [127.0.0.1])\r\n" +
	"\tby mx.example.com with ESMTPSA id Q7XK2; Mon, 10 Mar 2025 09:15:00 +0000\r\n" +
	"From: Alice <alice@example.com>\r\n" +
	"To: bob@example.net, carol@example.org\r\n" +
	"Subject: Quarterly report\r\n" +
	"Message-ID: <20250310091500.1234@app.example.com>\r\n" +
	"Date: Mon, 10 Mar 2025 09:14:59 +0000\r\n" +
	"\r\n" +
	"The secret body that must never be returned.\r\n"

// golden is a notice of the golden cases: reported by mx.example.com at
// now about a message received at arrival, with a fixed boundary.
func golden(queueID, sender string, headers string, rs ...Recipient) *Notice {
	return &Notice{
		ReportingMTA: "mx.example.com",
		QueueID:      queueID,
		Sender:       sender,
		Arrival:      arrival,
		Now:          now,
		Boundary:     "outbox-test-boundary",
		MessageID:    "dsn." + queueID + "@mx.example.com",
		Headers:      []byte(headers),
		Recipients:   rs,
	}
}

// withFull is n returning the whole original message (RET=FULL), under
// the envelope ID envID.
func withFull(n *Notice, envID string) *Notice {
	n.EnvelopeID = envID
	n.Full, n.FullComplete = n.Headers, true
	return n
}

// notices are the golden cases, by file name in testdata/.
func notices() map[string]*Notice {
	delayed := golden("R2D2C3", "shop@example.com", "From: shop@example.com\nTo: dave@example.net\nSubject: Your order\n",
		Recipient{
			Addr: "dave@example.net", Action: Delayed,
			Diagnostic:     "connect to mx.example.net[192.0.2.7]:25: connection timed out",
			LastAttempt:    now.Add(-10 * time.Minute),
			WillRetryUntil: arrival.Add(5 * 24 * time.Hour),
		})
	delayed.EnvelopeID = "order-4711"
	return map[string]*Notice{
		"failed-two-recipients.eml": golden("Q7XK2", "alice@example.com", origHeaders,
			Recipient{
				Addr: "bob@example.net", Action: Failed, Status: "5.1.1",
				RemoteMTA: "mx1.example.net", Code: 550,
				Diagnostic:  "550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual mailbox table",
				LastAttempt: arrival.Add(2 * time.Second),
			},
			// Expired after temporary errors: a failure that keeps the
			// 4.x.x of its last reply.
			Recipient{
				Addr: "carol@example.org", Action: Failed, Status: "4.4.7",
				RemoteMTA: "mail.example.org", Code: 451,
				Diagnostic:  "451 4.3.0 Temporary lookup failure",
				LastAttempt: now.Add(-time.Minute),
			}),
		"delayed.eml": delayed,
		// A non-ASCII recipient for an ASCII sender: global types,
		// quoted-printable, no SMTPUTF8 needed.
		"utf8-recipient.eml": golden("U8R1", "alice@example.com",
			"From: alice@example.com\r\nTo: =?utf-8?q?J=C3=B6rg?= <jörg@bücher.example>\r\nSubject: Grüße\r\n\r\n",
			Recipient{
				Addr: "jörg@bücher.example", Action: Failed, Status: "5.1.1",
				RemoteMTA: "mx.xn--bcher-kva.example", Code: 550,
				Diagnostic:  "550 5.1.1 Postfach unbekannt",
				LastAttempt: now,
			}),
		// NOTIFY=SUCCESS to a next hop without DSN: "relayed", with the
		// ENVID and ORCPT the sender gave, and headers only.
		"relayed.eml": withFull(golden("RL1", "alice@example.com", origHeaders,
			Recipient{
				Addr: "bob@example.net", Original: "rfc822;Bob@Example.NET", Action: Relayed,
				RemoteMTA: "mx1.example.net", Code: 250,
				Diagnostic:  "250 2.0.0 Ok: queued as 4XyZ",
				LastAttempt: now,
			}), "invoice-0815"),
		// RET=FULL: a failure returns the whole message as message/rfc822;
		// a local decision names no Remote-MTA and quotes no SMTP reply.
		"failed-ret-full.eml": withFull(golden("RF1", "alice@example.com", origHeaders,
			Recipient{
				Addr: "carol@example.org", Original: "rfc822;carol@example.org", Action: Failed,
				Status:      "5.3.4",
				Diagnostic:  "message size 2000000 exceeds the fixed limit 1000000 of mail.example.org[192.0.2.9]:25 (SIZE, RFC 1870)",
				LastAttempt: now,
			}), "batch-7"),
		// A non-ASCII sender: the notice needs SMTPUTF8 and is 8bit.
		"utf8-sender.eml": golden("U8S1", "用户@例子.example", "From: 用户@例子.example\r\nSubject: 你好\r\n\r\n",
			Recipient{
				Addr: "bob@example.net", Action: Failed, Code: 550,
				RemoteMTA:   "mx1.example.net",
				Diagnostic:  "550 5.6.7 SMTPUTF8 not supported",
				Status:      "5.6.7",
				LastAttempt: now,
			}),
	}
}

func TestBuildGolden(t *testing.T) {
	for name, n := range notices() {
		t.Run(name, func(t *testing.T) {
			got, err := Build(n)
			if err != nil {
				t.Fatalf("Build: %v", err)
			}
			if err := checkLines(got); err != nil {
				t.Fatal(err)
			}
			if _, err := parseNotice(got); err != nil {
				t.Fatalf("output does not parse: %v", err)
			}
			path := filepath.Join("testdata", name)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (go test -update rewrites it)\n--- got ---\n%s", path, got)
			}
		})
	}
}

// TestBuildStructure reads a notice back with net/mail and mime/multipart
// and checks every field a client or a bounce processor relies on.
func TestBuildStructure(t *testing.T) {
	n := notices()["failed-two-recipients.eml"]
	raw, err := Build(n)
	if err != nil {
		t.Fatal(err)
	}
	p, err := parseNotice(raw)
	if err != nil {
		t.Fatal(err)
	}

	from, err := mail.ParseAddress(p.Header.Get("From"))
	if err != nil || from.Name != "Mail Delivery System" || from.Address != "MAILER-DAEMON@mx.example.com" {
		t.Errorf("From = %+v, %v", from, err)
	}
	to, err := mail.ParseAddress(p.Header.Get("To"))
	if err != nil || to.Address != "alice@example.com" {
		t.Errorf("To = %+v, %v", to, err)
	}
	if d, err := p.Header.Date(); err != nil || !d.Equal(now) {
		t.Errorf("Date = %v, %v; want %v", d, err, now)
	}
	for field, want := range map[string]string{
		"Subject":        SubjectFailed,
		"Message-ID":     "<dsn.Q7XK2@mx.example.com>",
		"Auto-Submitted": "auto-replied",
		"MIME-Version":   "1.0",
	} {
		if got := p.Header.Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if p.ReportType != "delivery-status" {
		t.Errorf("report-type = %q", p.ReportType)
	}

	wantParts := []struct{ typ, cs string }{
		{"text/plain", "utf-8"}, {"message/delivery-status", ""}, {"text/rfc822-headers", ""},
	}
	if len(p.Parts) != len(wantParts) {
		t.Fatalf("%d parts, want %d", len(p.Parts), len(wantParts))
	}
	for i, w := range wantParts {
		if p.Parts[i].Type != w.typ || p.Parts[i].Params["charset"] != w.cs {
			t.Errorf("part %d is %s %v, want %s charset %q", i+1, p.Parts[i].Type, p.Parts[i].Params, w.typ, w.cs)
		}
	}

	// Compare with the wrapping undone.
	text := strings.Join(strings.Fields(string(p.Parts[0].Body)), " ")
	for _, want := range []string{
		"<bob@example.net>", "The server mx1.example.net replied: 550 5.1.1",
		"<carol@example.org>", "451 4.3.0 Temporary lookup failure", "Q7XK2",
		"will not be tried again",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text part lacks %q:\n%s", want, text)
		}
	}

	checkFields(t, "per-message", p.PerMessage, map[string]string{
		"Reporting-MTA":     "dns; mx.example.com",
		"X-Outbox-Queue-ID": "Q7XK2",
		"X-Outbox-Sender":   "rfc822; alice@example.com",
		"Arrival-Date":      "Mon, 10 Mar 2025 09:15:00 +0000",
	})
	if len(p.Rcpts) != 2 {
		t.Fatalf("%d recipient blocks, want 2", len(p.Rcpts))
	}
	checkFields(t, "recipient 1", p.Rcpts[0], map[string]string{
		"Final-Recipient":   "rfc822; bob@example.net",
		"Action":            "failed",
		"Status":            "5.1.1",
		"Remote-MTA":        "dns; mx1.example.net",
		"Diagnostic-Code":   "smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected: User unknown in virtual mailbox table",
		"Last-Attempt-Date": "Mon, 10 Mar 2025 09:15:02 +0000",
		"Will-Retry-Until":  "",
	})
	checkFields(t, "recipient 2", p.Rcpts[1], map[string]string{
		"Final-Recipient": "rfc822; carol@example.org",
		"Action":          "failed",
		"Status":          "4.4.7",
		"Remote-MTA":      "dns; mail.example.org",
		"Diagnostic-Code": "smtp; 451 4.3.0 Temporary lookup failure",
	})

	wantHeaders, _ := CleanHeaders([]byte(origHeaders))
	if got := p.Parts[2].Body; !bytes.Equal(got, wantHeaders) {
		t.Errorf("headers part = %q, want %q", got, wantHeaders)
	}
	if bytes.Contains(raw, []byte("secret body")) {
		t.Error("the original body leaked into the notice")
	}
}

func checkFields(t *testing.T, what string, h textproto.MIMEHeader, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := h.Get(k); got != v {
			t.Errorf("%s: %s = %q, want %q", what, k, got, v)
		}
	}
}
