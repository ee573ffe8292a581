package integration

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
)

// TestSevenBitToPostfixWithoutEightBitMIME relays, to a real Postfix that
// does not offer 8BITMIME (smtpd_discard_ehlo_keywords = 8bitmime), what
// RFC 6152 and RFC 5322 §2.1.1 make delicate: 8-bit bodies, signed and
// unsigned; a message of header fields only; body lines of 999 and 1,500
// octets; a 1,300-octet Subject. Every copy that arrives must be 7-bit
// with lines of at most 998 octets, carry the same content once decoded,
// and the signed ones must verify with dkimpy.
func TestSevenBitToPostfixWithoutEightBitMIME(t *testing.T) {
	py := pythonDKIM(t)
	lockPeers(t)
	pf := startPostfix(t, postfixOptions{
		Name: "no8bit", IP: "127.0.0.12", Hostname: "no8bit.example.test",
		Domains: []string{"no8bit.test"},
		MainCF:  "smtpd_discard_ehlo_keywords = 8bitmime\n",
	})
	dir := t.TempDir()
	key := filepath.Join(dir, "rsa1.key")
	out, err := exec.Command(binary, "dkim", "keygen", "--domain", "example.com", "--selector", "rsa1", "--out", key).CombinedOutput()
	if err != nil {
		t.Fatalf("dkim keygen: %v\n%s", err, out)
	}
	record := regexp.MustCompile(`(?m)^value: (.+)$`).FindSubmatch(out)
	if record == nil {
		t.Fatalf("no record value in keygen output:\n%s", out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	startDaemon(t, dir, fmt.Sprintf(`hostname = "outbox.test"
[spool]
dir = %q
[[listen.submission]]
address = %q
[delivery]
tls_policy = "none"
first_retry = "1s"
max_retry_interval = "2s"
[relay.pf]
[[relay.pf.server]]
host = "127.0.0.12"
port = 25
tls = "none"
[routes]
"*" = "pf"
[[dkim.domain]]
domain = "example.com"
[[dkim.domain.key]]
selector = "rsa1"
key_file = %q
`, filepath.Join(dir, "spool"), addr, key), addr)

	mime8 := "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
	text8 := "Grüße aus Köln, où l'on mange des crêpes.\r\nZweite Zeile, ganz normal.\r\n"
	cases := []struct {
		name, from, to, data string
		signed               bool
	}{
		{"8-bit signed", "app@example.com", "s8@no8bit.test",
			"From: App <app@example.com>\r\nTo: s8@no8bit.test\r\nSubject: 8-bit, signed\r\n" + mime8 + "\r\n" + text8, true},
		{"8-bit unsigned", "app@other.org", "u8@no8bit.test",
			"From: app@other.org\r\nTo: u8@no8bit.test\r\nSubject: 8-bit, unsigned\r\n" + mime8 + "\r\n" + text8, false},
		{"headers only", "app@example.com", "ho@no8bit.test",
			"From: App <app@example.com>\r\nTo: ho@no8bit.test\r\nSubject: header fields only", true},
		{"long body lines", "app@example.com", "ll@no8bit.test",
			"From: App <app@example.com>\r\nTo: ll@no8bit.test\r\nSubject: long lines\r\n\r\n" +
				strings.Repeat("a", 999) + "\r\n" + strings.Repeat("0123456789", 150) + "\r\nend\r\n", true},
		{"long header line", "app@example.com", "lh@no8bit.test",
			"From: App <app@example.com>\r\nTo: lh@no8bit.test\r\nSubject: " + strings.Repeat("a long subject ", 87) + "\r\n\r\nbody\r\n", true},
	}
	for _, c := range cases {
		submit(t, addr, c.from, []string{c.to}, c.data)
	}
	var rows []string
	for _, c := range cases {
		var got []mailMsg
		waitFor(t, c.to+" in the maildir", 30*time.Second, func() bool {
			got = pf.messages(t, c.to)
			return len(got) > 0
		})
		// The maildir has LF line ends; the wire had CRLF.
		wire := bytes.ReplaceAll(got[0].Raw, []byte("\n"), []byte("\r\n"))
		high, longest := octetsOver127(wire), longestLine(wire)
		cte := strings.Join(got[0].header("Content-Transfer-Encoding"), ",")
		dkim := verifyDKIM(t, py, dir, wire, "rsa1._domainkey.example.com="+string(record[1]))
		rows = append(rows, fmt.Sprintf("%s: %d octets over 127, longest line %d, CTE %q, dkimpy %q", c.name, high, longest, cte, dkim))
		if high != 0 || longest > 998 {
			t.Errorf("%s: arrived with %d 8-bit octets and a %d-octet line:\n%s", c.name, high, longest, wire)
		}
		if c.signed && dkim != "example.com/rsa1 ok" {
			t.Errorf("%s: dkimpy says %q:\n%s", c.name, dkim, wire)
		}
		if sent, arrived := decoded(t, []byte(c.data)), decoded(t, wire); sent != arrived {
			t.Errorf("%s: content differs once decoded:\nsent    %q\narrived %q", c.name, sent, arrived)
		}
	}
	summary(t, "to Postfix without 8BITMIME: %s", strings.Join(rows, "; "))
}

func octetsOver127(b []byte) int {
	n := 0
	for _, c := range b {
		if c > 127 {
			n++
		}
	}
	return n
}

func longestLine(b []byte) int {
	n := 0
	for line := range bytes.SplitSeq(b, []byte("\r\n")) {
		n = max(n, len(line))
	}
	return n
}

// verifyDKIM runs dkimpy on msg; "" when it has no signature.
func verifyDKIM(t *testing.T, py, dir string, msg []byte, records ...string) string {
	t.Helper()
	file := filepath.Join(dir, "arrived.eml")
	writeFile(t, file, string(msg))
	out, err := exec.Command(py, append([]string{"-c", verifyScript, file}, records...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, out)
	}
	return strings.TrimSpace(string(out))
}

// decoded is a message's Subject and the text of its leaf parts with
// their transfer encodings undone, line ends normalised: what a reader
// sees, whichever encoding carried it.
func decoded(t *testing.T, raw []byte) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil && !message.IsUnknownCharset(err) {
		t.Fatalf("parse: %v", err)
	}
	var b strings.Builder
	b.WriteString(e.Header.Get("Subject") + "\n")
	err = e.Walk(func(_ []int, part *message.Entity, err error) error {
		if err != nil || part.MultipartReader() != nil {
			return err
		}
		body, err := io.ReadAll(part.Body)
		b.WriteString(strings.TrimRight(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n"))
		return err
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return b.String()
}
