package integration

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// probeReport is the part of `outbox probe --json`'s report compared with
// posttls-finger.
type probeReport struct {
	Greeting  string   `json:"greeting"`
	EHLO      []string `json:"ehlo"`
	EHLOAfter []string `json:"ehlo_after_tls"`
	TLS       *struct {
		Version     string `json:"version"`
		Cipher      string `json:"cipher"`
		Verified    bool   `json:"verified"`
		VerifyError string `json:"verify_error"`
	} `json:"tls"`
}

// fingerReport is what posttls-finger says of the same server: the TLS
// level it established ("Verified", "Trusted", "Untrusted"), the protocol,
// the cipher and the EHLO keywords of the chat before STARTTLS.
type fingerReport struct {
	level, version, cipher string
	keywords               []string
}

var (
	fingerTLS     = regexp.MustCompile(`(\w+) TLS connection established to \S+: (TLSv[0-9.]+) with cipher (\S+)`)
	fingerKeyword = regexp.MustCompile(`(?m)< 250[- ]([A-Z0-9][A-Z0-9-]*)(?:\s|$)`)
)

// runFinger runs posttls-finger at the secure level (RFC 6125 name
// matching, the CA of caFile trusted) against p, matching name. It reads
// p's main.cf (MAIL_CONFIG), as the machine may have none of its own.
func runFinger(t *testing.T, p *postfix, caFile, name string) fingerReport {
	t.Helper()
	cmd := exec.Command(needTool(t, "posttls-finger"), "-l", "secure", "-F", caFile, "-t", "20", "-T", "20",
		"["+p.opts.IP+"]:25", name)
	cmd.Env = append(os.Environ(), "MAIL_CONFIG="+p.conf)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("posttls-finger: %v\n%s", err, out)
	}
	text := string(out)
	m := fingerTLS.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("posttls-finger established no TLS:\n%s", text)
	}
	r := fingerReport{level: m[1], version: strings.Replace(m[2], "TLSv", "TLS ", 1), cipher: m[3]}
	// The keywords of the first EHLO reply: the chat up to STARTTLS.
	before, _, _ := strings.Cut(text, "> STARTTLS")
	for _, k := range fingerKeyword.FindAllStringSubmatch(before, -1) {
		r.keywords = append(r.keywords, k[1])
	}
	return r
}

func runProbeJSON(t *testing.T, args ...string) (probeReport, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"probe", "--json", "--timeout", "20s"}, args...)...)
	out, err := cmd.Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var reps []probeReport
	if err := json.Unmarshal(out, &reps); err != nil || len(reps) != 1 || reps[0].TLS == nil {
		t.Fatalf("outbox probe: %v\n%s", err, out)
	}
	return reps[0], code
}

// keywords is the EHLO reply's extension keywords, without the first line.
func keywords(lines []string) []string {
	var ks []string
	for _, l := range lines[1:] {
		ks = append(ks, strings.Fields(l)[0])
	}
	return ks
}

// TestProbeMatchesPosttlsFinger: `outbox probe` against a private Postfix
// with a certificate from a test CA reports what posttls-finger reports:
// the TLS protocol and cipher, whether the certificate verified for the
// name, and the EHLO keywords before STARTTLS.
func TestProbeMatchesPosttlsFinger(t *testing.T) {
	needTool(t, "posttls-finger")
	lockPeers(t)
	ca := newTestCA(t, t.TempDir())
	cert, key := ca.issue(t, "probe", "mx.probe.test")
	p := startPostfix(t, postfixOptions{
		Name: "probe", IP: "127.0.0.17", Hostname: "mx.probe.test", Domains: []string{"probe.test"},
		CertFile: cert, KeyFile: key,
		// The server's cipher order decides, so that two clients whose
		// preferences differ (Go, OpenSSL) get the same cipher.
		MainCF: "tls_preempt_cipherlist = yes\n",
	})
	for _, tt := range []struct {
		name     string
		verified bool
		code     int
	}{
		{"mx.probe.test", true, 0},
		{"wrong.probe.test", false, 1},
	} {
		fin := runFinger(t, p, ca.File, tt.name)
		rep, code := runProbeJSON(t, p.Addr(), "--name", tt.name, "--ca-file", ca.File)
		if code != tt.code || rep.TLS.Verified != tt.verified || (fin.level == "Verified") != tt.verified {
			t.Errorf("%s: outbox probe exit %d verified %v (%s), posttls-finger %s; want exit %d, verified %v",
				tt.name, code, rep.TLS.Verified, rep.TLS.VerifyError, fin.level, tt.code, tt.verified)
		}
		if rep.TLS.Version != fin.version || rep.TLS.Cipher != fin.cipher {
			t.Errorf("%s: outbox probe %s %s, posttls-finger %s %s", tt.name, rep.TLS.Version, rep.TLS.Cipher, fin.version, fin.cipher)
		}
		if got := keywords(rep.EHLO); !slices.Equal(got, fin.keywords) {
			t.Errorf("%s: EHLO keywords: outbox probe %q, posttls-finger %q", tt.name, got, fin.keywords)
		}
		if !strings.HasPrefix(rep.Greeting, "220 mx.probe.test") || len(rep.EHLOAfter) == 0 {
			t.Errorf("%s: greeting %q, EHLO after STARTTLS %q", tt.name, rep.Greeting, rep.EHLOAfter)
		}
		summary(t, "outbox probe %s: exit %d, %s %s verified=%v; posttls-finger: %s %s %s; EHLO %s",
			tt.name, code, rep.TLS.Version, rep.TLS.Cipher, rep.TLS.Verified, fin.level, fin.version, fin.cipher,
			strings.Join(fin.keywords, " "))
	}
}
