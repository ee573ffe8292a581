package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

type testAPI struct {
	db  *store.DB
	srv *Server
	url string
}

func newTestAPI(t *testing.T, mod func(*Options)) *testAPI {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	opts := Options{Spool: db, Hostname: "mx.test", TrustLoopback: true, MaxMessageSize: 64 << 10, MaxRecipients: 3}
	if mod != nil {
		mod(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &testAPI{db: db, srv: s, url: serve(t, s)}
}

func serve(t *testing.T, s *Server) string {
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(hs.Close)
	return hs.URL
}

func (a *testAPI) post(t *testing.T, body, auth string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", a.url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %d, body not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

func (a *testAPI) count(t *testing.T) int {
	t.Helper()
	ms, err := a.db.List(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func (a *testAPI) stored(t *testing.T, id string) (*store.Message, []byte) {
	t.Helper()
	m, err := a.db.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := a.db.OpenBody(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return m, b
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestPostBuildsMessage(t *testing.T) {
	a := newTestAPI(t, nil)
	pdf := "%PDF-1.4\x00\xff binary"
	body := `{"from":"App <app@example.com>","to":["ann@example.org"],"cc":["Bob <bob@example.org>"],"at_least_one":false,
		"bcc":["hidden@example.net"],"reply_to":"help@example.com","subject":"Héllo",
		"text":"plain\nline","html":"<p>hi <img src=\"cid:logo\"></p>",
		"headers":{"X-Campaign":"spring"},
		"attachments":[{"filename":"a.pdf","content_type":"application/pdf","content":"` + b64(pdf) + `"},
		{"content_id":"logo","filename":"logo.png","content_type":"image/png","content":"` + b64("PNG") + `"}]}`
	status, out := a.post(t, body, "")
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %v", status, out)
	}
	id := out["id"].(string)
	m, raw := a.stored(t, id)
	if m.From != "app@example.com" || len(m.Recipients) != 3 || m.Recipients[2].Addr != "hidden@example.net" {
		t.Errorf("envelope %q %v", m.From, m.Recipients)
	}
	if m.AtLeastOne == nil || *m.AtLeastOne {
		t.Errorf("AtLeastOne %v, want false", m.AtLeastOne)
	}
	if m.BodyType != store.Body7Bit {
		t.Errorf("body type %v, want 7-bit", m.BodyType)
	}
	for _, c := range raw {
		if c >= 0x80 {
			t.Fatalf("stored message has 8-bit octets:\n%s", raw)
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	if h.Get("Bcc") != "" || bytes.Contains(raw, []byte("hidden@")) {
		t.Errorf("Bcc recipient written into the message:\n%s", raw)
	}
	if h.Get("Message-Id") != "<"+id+"@mx.test>" || h.Get("Date") == "" || h.Get("X-Campaign") != "spring" {
		t.Errorf("header: %v", h)
	}
	if subj, _ := new(mime.WordDecoder).DecodeHeader(h.Get("Subject")); subj != "Héllo" {
		t.Errorf("Subject %q", subj)
	}
	parts := walk(t, h.Get("Content-Type"), msg.Body)
	want := map[string]string{"text/plain": "plain\r\nline", "application/pdf": pdf, "image/png": "PNG"}
	for ct, w := range want {
		if parts[ct] != w {
			t.Errorf("part %s = %q, want %q", ct, parts[ct], w)
		}
	}
}

// walk returns the decoded leaf parts by media type.
func walk(t *testing.T, ct string, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(mt, "multipart/") {
		b, _ := io.ReadAll(r)
		out[mt] = string(b)
		return out
	}
	mr := multipart.NewReader(r, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable; base64 below
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		var pr io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			pr = base64.NewDecoder(base64.StdEncoding, p)
		}
		for k, v := range walk(t, p.Header.Get("Content-Type"), pr) {
			out[k] = v
		}
	}
}

func TestPostRefusals(t *testing.T) {
	a := newTestAPI(t, nil)
	big := strings.Repeat("x", 70<<10)
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"bad address", `{"from":"a@example.com","to":["not an address"],"text":"x"}`, 400, "to[0]"},
		{"bad from", `{"from":"nobody","to":["b@example.org"],"text":"x"}`, 400, "from"},
		{"invalid base64", `{"from":"a@example.com","to":["b@example.org"],"attachments":[{"filename":"f","content":"!!"}]}`, 400, "attachments[0].content"},
		{"unknown field", `{"from":"a@example.com","to":["b@example.org"],"text":"x","colour":"red"}`, 400, "colour"},
		{"no recipient", `{"from":"a@example.com","text":"x"}`, 400, "to"},
		{"too many recipients", `{"from":"a@example.com","to":["b@x.org","c@x.org"],"bcc":["d@x.org","e@x.org"],"text":"x"}`, 400, "to"},
		{"reserved header", `{"from":"a@example.com","to":["b@example.org"],"text":"x","headers":{"Bcc":"x@y.z"}}`, 400, "headers.Bcc"},
		{"header injection", `{"from":"a@example.com","to":["b@example.org"],"text":"x","headers":{"X-A":"1\r\nBcc: x@y.z"}}`, 400, "headers.X-A"},
		{"raw without envelope", `{"raw":"` + b64("Subject: x\r\n\r\nhi\r\n") + `"}`, 400, "envelope"},
		{"raw bare LF", `{"raw":"` + b64("Subject: x\n\nhi\n") + `","envelope":{"from":"a@example.com","to":["b@example.org"]}}`, 400, "raw"},
		{"raw bad base64", `{"raw":"%%%","envelope":{"from":"a@example.com","to":["b@example.org"]}}`, 400, "raw"},
		{"wrong type", `{"from":"a@example.com","to":"b@example.org","text":"x"}`, 400, "to"},
		{"two objects", `{"from":"a@example.com","to":["b@example.org"],"text":"x"} {}`, 400, ""},
		{"stray brace", `{"from":"a@example.com","to":["b@example.org"],"text":"x"}}`, 400, ""},
		{"stray bracket", `{"from":"a@example.com","to":["b@example.org"],"text":"x"}]`, 400, ""},
		{"over the size", `{"from":"a@example.com","to":["b@example.org"],"text":"` + big + `"}`, 413, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := a.post(t, c.body, "")
			if status != c.status || (c.field != "" && out["field"] != c.field) {
				t.Errorf("got %d %v, want %d field %q", status, out, c.status, c.field)
			}
		})
	}
	if n := a.count(t); n != 0 {
		t.Errorf("%d messages spooled by refused requests", n)
	}
}

func TestPostRaw(t *testing.T) {
	a := newTestAPI(t, nil)
	raw := "From: a@example.com\r\nTo: b@example.org\r\nSubject: raw\r\n\r\nbody\r\n"
	status, out := a.post(t, `{"raw":"`+b64(raw)+`","envelope":{"from":"bounce@example.com","to":["b@example.org","c@example.org"]}}`, "")
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %v", status, out)
	}
	m, stored := a.stored(t, out["id"].(string))
	if m.From != "bounce@example.com" || len(m.Recipients) != 2 {
		t.Errorf("envelope %q %v", m.From, m.Recipients)
	}
	if !bytes.HasSuffix(stored, []byte(raw)) || !bytes.Contains(stored, []byte("\r\nMessage-ID: <"+m.ID+"@mx.test>\r\n")) {
		t.Errorf("stored:\n%s", stored)
	}
}

func TestAuth(t *testing.T) {
	secret, hash, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseKeyHash(hash)
	if err != nil || h != sha256.Sum256([]byte(secret)) {
		t.Fatalf("hash %q: %v", hash, err)
	}
	a := newTestAPI(t, func(o *Options) {
		o.TrustLoopback = false
		o.Keys = []Key{{Name: "other", Hash: sha256.Sum256([]byte("x"))}, {Name: "app", Hash: h}}
	})
	body := `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`
	for _, c := range []struct {
		auth   string
		status int
	}{
		{"", 401},
		{"Basic abc", 401},
		{"Bearer wrong", 403},
		{"Bearer " + secret, 202},
	} {
		if status, out := a.post(t, body, c.auth); status != c.status {
			t.Errorf("Authorization %q: %d %v, want %d", c.auth, status, out, c.status)
		}
	}
	if n := a.count(t); n != 1 {
		t.Errorf("%d messages spooled, want 1", n)
	}
	// A reload that drops the key locks its holder out.
	a.srv.SetKeys(nil)
	if status, _ := a.post(t, body, "Bearer "+secret); status != 403 {
		t.Errorf("after SetKeys(nil): %d, want 403", status)
	}
}

func TestRateLimit(t *testing.T) {
	a := newTestAPI(t, func(o *Options) { o.Rate, o.Burst = 0.001, 2 })
	body := `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`
	for i, want := range []int{202, 202, 429} {
		if status, out := a.post(t, body, ""); status != want {
			t.Errorf("request %d: %d %v, want %d", i, status, out, want)
		}
	}
	if n := a.count(t); n != 2 {
		t.Errorf("%d messages spooled, want 2", n)
	}
}

// TestPostRaw8Bit: a raw message with an 8-bit body is stored in its 7-bit
// form, as the SMTP listener stores one; a header line over 998 octets is
// refused.
func TestPostRaw8Bit(t *testing.T) {
	a := newTestAPI(t, nil)
	raw := "From: a@example.com\r\nSubject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n"
	env := `,"envelope":{"from":"a@example.com","to":["b@example.org"]}}`
	status, out := a.post(t, `{"raw":"`+b64(raw)+`"`+env, "")
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %v", status, out)
	}
	m, stored := a.stored(t, out["id"].(string))
	if m.BodyType != store.Body7Bit || bytes.ContainsFunc(stored, func(r rune) bool { return r >= 0x80 }) {
		t.Errorf("stored %v:\n%s", m.BodyType, stored)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(stored))
	if err != nil {
		t.Fatal(err)
	}
	if parts := walk(t, msg.Header.Get("Content-Type"), qpDecode(msg)); parts["text/plain"] != "Grüße\r\n" {
		t.Errorf("decoded body %q", parts["text/plain"])
	}
	long := "From: a@example.com\r\nSubject: " + strings.Repeat("x", 1000) + "\r\n\r\nhi\r\n"
	if status, out := a.post(t, `{"raw":"`+b64(long)+`"`+env, ""); status != 400 || out["field"] != "raw" {
		t.Errorf("long header line: %d %v", status, out)
	}
}

// qpDecode returns the body of a single-part message, decoded.
func qpDecode(msg *mail.Message) io.Reader {
	switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		return quotedprintable.NewReader(msg.Body)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, msg.Body)
	}
	return msg.Body
}
