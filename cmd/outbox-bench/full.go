package main

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The outbox-full systems: outbox-mx with every capability that costs per
// message switched on, so that the comparison shows what they cost.
const (
	sysFull        = "outbox-full"         // DKIM off
	sysFullDKIM    = "outbox-full-dkim"    // signed with a generated RSA-2048 key
	sysFullEd25519 = "outbox-full-ed25519" // signed with a generated Ed25519 key
)

// The domains of the check message sent after each full run, relayed to
// the capture server rather than the sink so that it can be inspected.
const (
	checkFrom   = "check@example.com"
	checkRcpt   = "check@capture.bench.test"
	dkimDomain  = "example.com" // smtp-source's and the probe's From domain
	dkimSel     = "bench"
	shapeDomain = "example.net" // smtp-source's and the probe's recipient domain
)

// fullPeers are the helpers a full system runs beside the sink: the
// loopback DNS server, the webhook endpoint, the capture server of the
// check message, and the ports of the daemon's HTTP listeners.
type fullPeers struct {
	mx          *mxServer
	hook        *hookSink
	capture     *captureServer
	metricsPort int
	apiPort     int
	dkimRecord  string // the TXT record of the DKIM key; "" when DKIM is off
}

// startFull starts an outbox-full system in front of the sink on sinkPort.
func startFull(ctx context.Context, o *compareOpts, sys, dir string, s *systemUnderTest, sinkPort int) (*systemUnderTest, error) {
	var err error
	p := &fullPeers{}
	if s.port, err = freePort(); err != nil {
		return s, err
	}
	if p.metricsPort, err = freePort(); err != nil {
		return s, err
	}
	if p.apiPort, err = freePort(); err != nil {
		return s, err
	}
	if p.mx, err = startMX(); err != nil {
		return s, err
	}
	s.stops = append(s.stops, p.mx.stop)
	if p.hook, err = startHookSink(); err != nil {
		return s, err
	}
	s.stops = append(s.stops, p.hook.stop)
	if p.capture, err = startCapture(); err != nil {
		return s, err
	}
	s.stops = append(s.stops, p.capture.stop)
	keyFile := ""
	if sys == sysFullDKIM || sys == sysFullEd25519 {
		typ := "rsa"
		if sys == sysFullEd25519 {
			typ = "ed25519"
		}
		keyFile = filepath.Join(dir, "dkim.key")
		if p.dkimRecord, err = writeDKIMKey(keyFile, typ); err != nil {
			return s, err
		}
	}
	cfg := outboxConfig(dir, s.port, sinkPort, p.mx.port, fullExtra(p, keyFile))
	cfg = strings.Replace(cfg, `address = "127.0.0.1:0"`, fmt.Sprintf(`address = "127.0.0.1:%d"`, p.apiPort), 1)
	ob, err := startOutbox(ctx, o.bin, dir, cfg, s.port)
	if err != nil {
		return s, err
	}
	if err := o.capNode(s, ob); err != nil {
		return s, err
	}
	s.stops = append(s.stops, ob.stop)
	s.pid = ob.pid()
	s.settle = func(ctx context.Context, delivered int) error { return p.hook.wait(ctx, delivered, o.timeout) }
	s.check = func(ctx context.Context) (string, error) { return p.check(ctx, s.port) }
	return s, nil
}

// fullExtra is the configuration the full systems add to outbox-mx's: the
// DNS cache (the default, said explicitly), a shaping rule for the
// recipient domain whose limits never bind, the metrics listener, a
// webhook receiving every event, the route of the check message, and
// DKIM when keyFile is set.
func fullExtra(p *fullPeers, keyFile string) string {
	secret := make([]byte, 32)
	rand.Read(secret)
	var b strings.Builder
	fmt.Fprintf(&b, `dns_cache_size = 10000
shaping_presets = true

[[shaping]]
name = "bench"
domains = [%q]
connections = 1000
per_minute = 100000000
per_hour = 1000000000
burst = 100000

[metrics]
address = "127.0.0.1:%d"

[[webhooks]]
name = "bench"
url = "http://127.0.0.1:%d/hook"
secret = "whsec_%s"

[relay.capture]
[[relay.capture.server]]
host = "127.0.0.1"
port = %d
tls = "none"

[routes]
%q = "capture"
`, shapeDomain, p.metricsPort, p.hook.port, base64.StdEncoding.EncodeToString(secret),
		p.capture.port, checkRcpt[strings.IndexByte(checkRcpt, '@')+1:])
	if keyFile != "" {
		fmt.Fprintf(&b, `
[[dkim.domain]]
domain = %q
[[dkim.domain.key]]
selector = %q
key_file = %q
`, dkimDomain, dkimSel, keyFile)
	}
	return b.String()
}

// writeDKIMKey writes a new key of type typ to path as PKCS #8 PEM, mode
// 0600 as the daemon requires, and returns its DNS TXT record (RFC 6376
// §3.6.1, RFC 8463 §4.2). "rsa" is RSA-2048, the kind every receiver
// verifies; "ed25519" the much cheaper one not all of them do yet.
func writeDKIMKey(path, typ string) (string, error) {
	var key crypto.Signer
	var pub []byte
	var err error
	switch typ {
	case "rsa":
		var k *rsa.PrivateKey
		if k, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			key = k
			pub, err = x509.MarshalPKIXPublicKey(&k.PublicKey)
		}
	case "ed25519":
		var pk ed25519.PublicKey
		pk, key, err = ed25519.GenerateKey(rand.Reader)
		pub = pk
	default:
		err = fmt.Errorf("DKIM key type %q: want rsa or ed25519", typ)
	}
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", err
	}
	return "v=DKIM1; k=" + typ + "; p=" + base64.StdEncoding.EncodeToString(pub), nil
}

// check asserts, after the measured run, that every capability was really
// at work: the API answers, the DNS cache answered lookups, the webhook
// received every delivery's event (settle waited for them), and the check
// message arrived signed (DKIM on, and the signature verifies) or
// unsigned (DKIM off). It returns a summary for the log.
func (p *fullPeers) check(ctx context.Context, port int) (string, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/openapi.json", p.apiPort))
	if err != nil {
		return "", fmt.Errorf("api: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("api: GET /v1/openapi.json: %s", resp.Status)
	}
	hits, err := p.metric("outbox_dns_cache_hits_total")
	if err != nil {
		return "", err
	}
	if hits == 0 {
		return "", fmt.Errorf("the DNS cache answered no lookup")
	}
	dkim, err := p.checkMessage(ctx, port)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("api ok, dns cache hits=%.0f, webhook events=%d (delivered %d), %s",
		hits, p.hook.events.Load(), p.hook.delivered.Load(), dkim), nil
}

// metric reads one unlabelled sample from the daemon's /metrics.
func (p *fullPeers) metric(name string) (float64, error) {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.metricsPort))
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0, fmt.Errorf("metrics: no %s", name)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// checkMessage sends one message through the daemon to the capture server
// and checks its DKIM signature: present and valid with DKIM on (verified
// by go-msgauth against the generated key's record), absent with it off.
func (p *fullPeers) checkMessage(ctx context.Context, port int) (string, error) {
	body := "From: <" + checkFrom + ">\r\nTo: <" + checkRcpt + ">\r\nSubject: check\r\n" +
		"Message-ID: <check@bench.test>\r\n\r\nThe check message of outbox-bench.\r\n"
	if err := sendOne(port, checkFrom, checkRcpt, body); err != nil {
		return "", fmt.Errorf("check message: %w", err)
	}
	var msg []byte
	select {
	case msg = <-p.capture.got:
	case <-ctx.Done():
		return "", ctx.Err()
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("check message: not relayed within 30s")
	}
	return verifyDKIM(msg, p.dkimRecord)
}
