package integration

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
	"github.com/outbox-mta/outbox/queue/tlsrpt"
	"github.com/outbox-mta/outbox/store"
)

// TestTLSReportMailed seeds yesterday's TLS results for dane.test into a
// stopped spool, starts the daemon with TLS reporting on and the report
// job every second, and checks that the report reaches the rua of
// _smtp._tls.dane.test, a scripted MX, through the queue: a
// multipart/report whose gzipped JSON has every field RFC 8460 §4.4
// requires, with the seeded counts.
func TestTLSReportMailed(t *testing.T) {
	w := newMXWorld(t,
		`_smtp._tls.dane.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test"`,
		"reports.test. MX 10 mx.reports.test.",
		"mx.reports.test. A 127.0.0.3",
	)
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	seedTLSResults(t, filepath.Join(dir, "spool"), time.Now().UTC().Add(-24*time.Hour))

	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := w.config(t, dir, addr, "") + `
[tls_reports]
enabled = true
from = "tlsrpt@outbox.test"
[cron]
tls_reports = "@every 1s"
`
	start := time.Now()
	startDaemon(t, dir, cfg, addr)
	waitFor(t, "the TLS report at mx.reports.test", 30*time.Second, func() bool { return len(mx.Messages()) > 0 })
	took := time.Since(start)
	m := mx.Messages()[0]
	if m.From != "tlsrpt@outbox.test" || len(m.Rcpts) != 1 || m.Rcpts[0] != "tlsrpt@reports.test" {
		t.Errorf("envelope %q → %q", m.From, m.Rcpts)
	}
	js := reportJSON(t, m.Data)
	if p := tlsrpt.Check(js); p != nil {
		t.Errorf("report lacks RFC 8460 §4.4 fields: %q\n%s", p, js)
	}
	for _, want := range []string{`"policy-type":"tlsa"`, `"total-successful-session-count":1`,
		`"total-failure-session-count":1`, `"result-type":"validation-failure"`, `"policy-domain":"dane.test"`} {
		if !bytes.Contains(js, []byte(want)) {
			t.Errorf("report has no %s:\n%s", want, js)
		}
	}
	summary(t, "TLS-RPT: yesterday's dane.test report mailed to rua tlsrpt@reports.test through the queue in %.1fs, %d bytes of JSON, every RFC 8460 §4.4 field present",
		took.Seconds(), len(js))
}

// seedTLSResults records one success and one DANE failure for dane.test
// on day into the spool at dir.
func seedTLSResults(t *testing.T, dir string, day time.Time) {
	t.Helper()
	db, err := store.Open(dir, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rec := tlsrpt.NewRecorder(tlsrpt.RecorderOptions{Store: db, Now: func() time.Time { return day }})
	p := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: "dane.test", String: []string{"3 1 1 00"}}
	rec.Record(tlsrpt.Result{Policy: p})
	rec.Record(tlsrpt.Result{Policy: p, Failure: "validation-failure", MXHost: "mx.dane.test",
		ReceivingIP: "127.0.0.2", SendingIP: "127.0.0.1", Detail: "no TLSA record matches"})
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// reportJSON finds the application/tlsrpt+gzip part of a report mail and
// returns the JSON inside.
func reportJSON(t *testing.T, raw []byte) []byte {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("no application/tlsrpt+gzip part: %v", err)
		}
		if p.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			continue
		}
		b, _ := io.ReadAll(p)
		gz, err := base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatal(err)
		}
		js, err := io.ReadAll(zr)
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
}
