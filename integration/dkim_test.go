package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// pythonDKIM returns a Python interpreter that has Debian's python3-dkim
// (dkimpy) and PyNaCl (for Ed25519): the independent verifier. The first
// python3 on PATH may be another installation (pyenv), so the system one
// is tried first.
func pythonDKIM(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/python3", "python3"} {
		if err := exec.Command(p, "-c", "import dkim, nacl").Run(); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("python3 with the dkim and nacl modules (python3-dkim, python3-nacl) is required in CI")
	}
	t.Skip("python3-dkim not installed")
	return ""
}

// verifyScript verifies every DKIM-Signature of the message in argv[1]
// with dkimpy, answering key lookups from the records in argv[2:]
// ("name=value"), and prints one "d/s ok" or "d/s FAIL" line each.
const verifyScript = `
import sys, dkim
msg = open(sys.argv[1], 'rb').read()
zone = dict(a.split('=', 1) for a in sys.argv[2:])
def dnsfunc(name, timeout=5):
    n = name.decode() if isinstance(name, bytes) else name
    v = zone.get(n.rstrip('.'))
    return v.encode() if v is not None else None
d = dkim.DKIM(msg)
sigs = [v for k, v in d.headers if k.lower() == b'dkim-signature']
for i, v in enumerate(sigs):
    ok = d.verify(idx=i, dnsfunc=dnsfunc)
    tags = dkim.util.parse_tag_value(v)
    print('%s/%s %s' % (tags[b'd'].decode(), tags[b's'].decode(), 'ok' if ok else 'FAIL'))
`

// TestDKIMSignedDeliveryVerifiesWithDKIMPy: keys made by `outbox dkim
// keygen` (RSA and Ed25519) sign a message at acceptance; the copy the MX
// receives verifies with dkimpy, an implementation independent of
// go-msgauth; `outbox dkim check` finds the published records; `queue
// show` reports the signatures; mail from a domain without a key leaves
// unsigned.
func TestDKIMSignedDeliveryVerifiesWithDKIMPy(t *testing.T) {
	py := pythonDKIM(t)
	dir := t.TempDir()
	records := keygenRecords(t, dir)
	zone := append([]string{
		"example.net. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.3",
	}, txtRecords(records)...)
	w := newMXWorld(t, zone...)
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf(`
[[dkim.domain]]
domain = "example.com"
[[dkim.domain.key]]
selector = "rsa1"
key_file = %q
[[dkim.domain.key]]
selector = "ed1"
key_file = %q
`, filepath.Join(dir, "rsa1.key"), filepath.Join(dir, "ed1.key"))), addr)

	long := "Subject: " + strings.Repeat("a long subject, folded by nobody ", 40) + "\r\n"
	submit(t, addr, "app@example.com", []string{"rcpt@example.net"},
		"From: App <app@example.com>\r\nTo: rcpt@example.net\r\n"+long+
			"Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße aus Köln — 8-bit body\r\nno final CRLF")
	submit(t, addr, "app@other.org", []string{"rcpt@example.net"},
		"From: app@other.org\r\nTo: rcpt@example.net\r\nSubject: unsigned\r\n\r\nhi\r\n")
	d.waitQueueEmpty(60 * time.Second)

	msgs := mx.Messages()
	if len(msgs) != 2 {
		t.Fatalf("MX received %d messages, want 2", len(msgs))
	}
	var signedID string
	for _, m := range msgs {
		data := string(m.Data)
		if m.From == "app@other.org" {
			if strings.Contains(data, "DKIM-Signature") {
				t.Errorf("mail from a domain without a key was signed:\n%s", data)
			}
			continue
		}
		if !strings.HasPrefix(data, "DKIM-Signature:") {
			t.Fatalf("signed message does not start with DKIM-Signature:\n%.300s", data)
		}
		if id := regexp.MustCompile(` id (\S+)`).FindStringSubmatch(data); id != nil {
			signedID = strings.TrimSuffix(id[1], ";")
		}
		file := filepath.Join(dir, "delivered.eml")
		writeFile(t, file, data)
		args := []string{"-c", verifyScript, file}
		for name, v := range records {
			args = append(args, name+"="+v)
		}
		out, err := exec.Command(py, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("dkimpy: %v\n%s", err, out)
		}
		got := strings.Fields(string(out))
		want := []string{"example.com/rsa1", "ok", "example.com/ed1", "ok"}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("dkimpy says %q, want %q", out, strings.Join(want, " "))
		}
	}

	// dkim check against the published records, and a selector not published.
	out, err := d.cliErr("dkim", "check", "--domain", "example.com", "--selector", "ed1", "--resolver", w.dns.Addr())
	if err != nil || !strings.Contains(out, "OK") {
		t.Errorf("dkim check ed1: %v\n%s", err, out)
	}
	if signedID != "" {
		if out := d.cli("queue", "show", signedID); !strings.Contains(out, "example.com/rsa1 (rsa-sha256), example.com/ed1 (ed25519-sha256)") {
			t.Errorf("queue show %s does not list the signatures:\n%s", signedID, out)
		}
	} else {
		t.Errorf("no queue ID in the delivered Received field")
	}
}

// keygenRecords makes an RSA key (selector rsa1) and an Ed25519 key
// (selector ed1) for example.com in dir with `outbox dkim keygen`, checks
// their files' mode, and returns the TXT record of each by its DNS name.
func keygenRecords(t *testing.T, dir string) map[string]string {
	t.Helper()
	records := map[string]string{}
	for _, k := range []struct{ sel, typ string }{{"rsa1", "rsa"}, {"ed1", "ed25519"}} {
		out, err := exec.Command(binary, "dkim", "keygen", "--domain", "example.com", "--selector", k.sel,
			"--type", k.typ, "--out", filepath.Join(dir, k.sel+".key")).CombinedOutput()
		if err != nil {
			t.Fatalf("dkim keygen: %v\n%s", err, out)
		}
		m := regexp.MustCompile(`(?m)^value: (.+)$`).FindSubmatch(out)
		if m == nil {
			t.Fatalf("no record value in keygen output:\n%s", out)
		}
		records[k.sel+"._domainkey.example.com"] = string(m[1])
		fi, err := os.Stat(filepath.Join(dir, k.sel+".key"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode: %v %v, want 0600", fi.Mode(), err)
		}
	}
	return records
}

// txtRecords are records (name → value) as zone lines, each value split
// into character-strings of at most 255 bytes (RFC 1035 §3.3).
func txtRecords(records map[string]string) []string {
	var zone []string
	for name, v := range records {
		var quoted []string
		for len(v) > 0 {
			n := min(len(v), 255)
			quoted = append(quoted, fmt.Sprintf("%q", v[:n]))
			v = v[n:]
		}
		zone = append(zone, name+". TXT "+strings.Join(quoted, " "))
	}
	return zone
}
