package tlsrpt_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/tlsrpt"
	"github.com/outbox-mta/outbox/store"
)

var day1 = time.Date(2026, 11, 29, 15, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// record stores, for dane.test on day1, two successes and three failures
// under a DANE policy, and one success with no policy.
func record(t *testing.T, db *store.DB) {
	t.Helper()
	rec := tlsrpt.NewRecorder(tlsrpt.RecorderOptions{Store: db, Now: func() time.Time { return day1 }, Logger: quiet()})
	dane := tlsrpt.Policy{Type: tlsrpt.PolicyTLSA, Domain: "dane.test", String: []string{"3 1 1 abcd"}}
	fail := tlsrpt.Result{Policy: dane, Failure: "validation-failure", MXHost: "mx.dane.test",
		ReceivingIP: "127.0.0.2", SendingIP: "127.0.0.1", Detail: "no TLSA record matches"}
	rec.Record(tlsrpt.Result{Policy: dane})
	rec.Record(fail)
	rec.Record(fail)
	rec.Record(tlsrpt.Result{Policy: dane, Failure: "starttls-not-supported", MXHost: "mx2.dane.test", ReceivingIP: "127.0.0.3", SendingIP: "127.0.0.1"})
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A second flush merges into the stored aggregate.
	rec.Record(tlsrpt.Result{Policy: dane})
	rec.Record(tlsrpt.Result{Policy: tlsrpt.Policy{Type: tlsrpt.PolicyNotFound, Domain: "dane.test"}})
	if err := rec.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func newReporter(t *testing.T, db *store.DB, txt string, spool tlsrpt.Spool, client *http.Client) *tlsrpt.Reporter {
	t.Helper()
	rp, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
		Store: db, Spool: spool, HTTP: client,
		Lookup: func(_ context.Context, name string) ([]string, error) {
			if name != "_smtp._tls.dane.test" {
				t.Errorf("TXT lookup of %q", name)
			}
			return []string{"some other text", txt}, nil
		},
		Submitter: "outbox.test", From: "tlsrpt@outbox.test", Organization: "Outbox Test",
		Now: func() time.Time { return day1.Add(24 * time.Hour) }, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

// checkFields fails t for every required field v lacks (tlsrpt.Check).
func checkFields(t *testing.T, v any) {
	t.Helper()
	js, _ := json.Marshal(v)
	for _, p := range tlsrpt.Check(js) {
		t.Error("report field " + p)
	}
}

// TestReportFields builds the report of recorded results and checks it
// against the required fields of RFC 8460 §4.4, and its counts.
func TestReportFields(t *testing.T) {
	db := openStore(t)
	record(t, db)
	aggs, err := db.TLSReports(context.Background(), "2026-11-30")
	if err != nil || len(aggs) != 1 {
		t.Fatalf("aggregates: %v %v", aggs, err)
	}
	rp := newReporter(t, db, "v=TLSRPTv1; rua=mailto:reports@dane.test", &spoolFunc{db: db}, nil)
	_, gz, err := rp.Build(aggs[0])
	if err != nil {
		t.Fatal(err)
	}
	v := gunzipJSON(t, gz)
	checkFields(t, v)
	var r tlsrpt.Report
	js, _ := json.Marshal(v)
	json.Unmarshal(js, &r)
	if got := v.(map[string]any)["date-range"].(map[string]any); got["start-datetime"] != "2026-11-29T00:00:00Z" || got["end-datetime"] != "2026-11-29T23:59:59Z" {
		t.Errorf("date-range = %v", got)
	}
	if len(r.Policies) != 2 {
		t.Fatalf("policies: %+v", r.Policies)
	}
	p := r.Policies[0]
	if p.Policy.Type != "tlsa" || p.Summary.Successful != 2 || p.Summary.Failed != 3 || len(p.FailureDetails) != 2 ||
		p.FailureDetails[0].FailedSessionCount != 2 || p.FailureDetails[0].ResultType != "validation-failure" {
		t.Errorf("tlsa policy: %+v", p)
	}
	if q := r.Policies[1]; q.Policy.Type != "no-policy-found" || q.Summary.Successful != 1 {
		t.Errorf("second policy: %+v", q)
	}
}

// TestFieldCheckFails makes sure the field check catches a report
// missing a required field.
func TestFieldCheckFails(t *testing.T) {
	js := []byte(`{"organization-name":"x","date-range":{"start-datetime":"2026-11-29T00:00:00Z","end-datetime":"2026-11-29T23:59:59Z"},"contact-info":"c","report-id":"r","policies":[{"policy":{"policy-type":"tlsa","policy-domain":"d"},"summary":{"total-successful-session-count":1,"total-failure-session-count":0}}]}`)
	if p := tlsrpt.Check(js); len(p) != 1 || !strings.Contains(p[0], "policy-string") {
		t.Errorf("a report without policy-string: problems %q", p)
	}
}

func gunzipJSON(t *testing.T, gz []byte) any {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.NewDecoder(zr).Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// spoolFunc records what the Reporter queues.
type spoolFunc struct {
	db   *store.DB
	msgs []*store.Message
}

func (s *spoolFunc) NewBody() (*store.Body, error) { return s.db.NewBody() }
func (s *spoolFunc) Enqueue(ctx context.Context, m *store.Message, b *store.Body) error {
	s.msgs = append(s.msgs, m)
	return s.db.Enqueue(ctx, m, b)
}

// TestSendMailAndHTTPS sends one day's report to a mailto: and an https:
// destination: the mail is queued as RFC 8460 §5.3 describes it, the POST
// carries application/tlsrpt+gzip, and the aggregate is gone afterwards.
func TestSendMailAndHTTPS(t *testing.T) {
	db := openStore(t)
	record(t, db)
	var posted []byte
	var ctype string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctype = r.Header.Get("Content-Type")
		posted, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	sp := &spoolFunc{db: db}
	rp := newReporter(t, db, "v=TLSRPTv1; rua=mailto:reports@dane.test,"+srv.URL+"/tlsrpt", sp, srv.Client())
	if err := rp.Send(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ctype != "application/tlsrpt+gzip" {
		t.Errorf("POST Content-Type %q", ctype)
	}
	checkFields(t, gunzipJSON(t, posted))
	if len(sp.msgs) != 1 || sp.msgs[0].Recipients[0].Addr != "reports@dane.test" || sp.msgs[0].From != "tlsrpt@outbox.test" {
		t.Fatalf("queued: %+v", sp.msgs)
	}
	rc, err := db.OpenBody(context.Background(), sp.msgs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(rc)
	rc.Close()
	checkReportMail(t, raw)
	if left, _ := db.TLSReports(context.Background(), "2026-11-30"); len(left) != 0 {
		t.Errorf("aggregates left after sending: %+v", left)
	}
}

// checkReportMail checks a report mail's form (RFC 8460 §5.3) and the
// fields of the JSON it carries.
func checkReportMail(t *testing.T, raw []byte) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if h.Get("TLS-Report-Domain") != "dane.test" || h.Get("TLS-Report-Submitter") != "outbox.test" ||
		!strings.HasPrefix(h.Get("Subject"), "Report Domain: dane.test Submitter: outbox.test Report-ID: <") {
		t.Errorf("header: %v", h)
	}
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["report-type"] != "tlsrpt" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var found bool
	for {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		if p.Header.Get("Content-Type") != "application/tlsrpt+gzip" {
			continue
		}
		found = true
		if fn := p.FileName(); !strings.HasPrefix(fn, "outbox.test!dane.test!1795910400!1795996799!") || !strings.HasSuffix(fn, ".json.gz") {
			t.Errorf("file name %q", fn)
		}
		b64, _ := io.ReadAll(p)
		gz, err := decodeBase64(b64)
		if err != nil {
			t.Fatal(err)
		}
		checkFields(t, gunzipJSON(t, gz))
	}
	if !found {
		t.Error("no application/tlsrpt+gzip part")
	}
}

// TestNoRecordDropsAggregate: a domain without a TLSRPT record gets no
// report and its aggregate is removed.
func TestNoRecordDropsAggregate(t *testing.T) {
	db := openStore(t)
	record(t, db)
	sp := &spoolFunc{db: db}
	rp := newReporter(t, db, "v=spf1 -all", sp, nil)
	if err := rp.Send(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sp.msgs) != 0 {
		t.Errorf("queued %d reports", len(sp.msgs))
	}
	if left, _ := db.TLSReports(context.Background(), "2026-11-30"); len(left) != 0 {
		t.Errorf("aggregates left: %+v", left)
	}
}

// TestParseRecord is RFC 8460 §3's record syntax.
func TestParseRecord(t *testing.T) {
	cases := []struct {
		txts []string
		want []string
		err  bool
	}{
		{[]string{"v=TLSRPTv1; rua=mailto:a@x.test"}, []string{"mailto:a@x.test"}, false},
		{[]string{"v=TLSRPTv1;rua=mailto:a@x.test,https://r.x.test/tlsrpt"}, []string{"mailto:a@x.test", "https://r.x.test/tlsrpt"}, false},
		{[]string{"v=TLSRPTv1; rua=http://insecure.test/, ftp://x"}, nil, true},
		{[]string{"v=TLSRPTv1; rua=mailto:a@x.test", "v=TLSRPTv1; rua=mailto:b@x.test"}, nil, true},
		{[]string{"v=TLSRPTv10; rua=mailto:a@x.test"}, nil, true},
		{[]string{"v=spf1 -all"}, nil, true},
		{nil, nil, true},
	}
	for _, c := range cases {
		got, err := tlsrpt.ParseRecord(c.txts)
		if (err != nil) != c.err {
			t.Errorf("%q: error %v", c.txts, err)
			continue
		}
		var s []string
		for _, u := range got {
			s = append(s, u.String())
		}
		if strings.Join(s, " ") != strings.Join(c.want, " ") {
			t.Errorf("%q: %v, want %v", c.txts, s, c.want)
		}
	}
}

func decodeBase64(b []byte) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.NewReplacer("\r", "", "\n", "").Replace(string(b)))
}

// fakeSigner signs with a fixed prefix and keeps what it was asked.
type fakeSigner struct {
	from   string
	fields []string
	body   bytes.Buffer
}

func (s *fakeSigner) Sign(from string, fields []string) (tlsrpt.Signing, error) {
	s.from, s.fields = from, fields
	return s, nil
}
func (s *fakeSigner) Write(p []byte) (int, error) { return s.body.Write(p) }
func (s *fakeSigner) Finish() ([]byte, []string, error) {
	return []byte("DKIM-Signature: v=1; d=outbox.test\r\n"), []string{"outbox.test/sel"}, nil
}
func (s *fakeSigner) Abort() {}

// TestMailSigned: a mailed report is DKIM-signed (RFC 8460 §5.3) by the
// Signer, over the whole message and with its header fields named.
func TestMailSigned(t *testing.T) {
	db := openStore(t)
	record(t, db)
	sp := &spoolFunc{db: db}
	sig := &fakeSigner{}
	rp, err := tlsrpt.NewReporter(tlsrpt.ReporterOptions{
		Store: db, Spool: sp, Signer: sig,
		Lookup: func(context.Context, string) ([]string, error) {
			return []string{"v=TLSRPTv1; rua=mailto:reports@dane.test"}, nil
		},
		Submitter: "outbox.test", From: "tlsrpt@outbox.test",
		Now: func() time.Time { return day1.Add(24 * time.Hour) }, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := rp.Send(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sp.msgs) != 1 {
		t.Fatalf("%d reports queued", len(sp.msgs))
	}
	m := sp.msgs[0]
	if string(m.Prefix) != "DKIM-Signature: v=1; d=outbox.test\r\n" || len(m.Signed) != 1 {
		t.Errorf("queued message prefix %q, signed %q", m.Prefix, m.Signed)
	}
	if sig.from != "tlsrpt@outbox.test" || !slices.Contains(sig.fields, "TLS-Report-Domain") || !slices.Contains(sig.fields, "Subject") {
		t.Errorf("signed from %q with fields %q", sig.from, sig.fields)
	}
	if !bytes.Contains(sig.body.Bytes(), []byte("application/tlsrpt+gzip")) {
		t.Error("the signer did not see the message")
	}
}
