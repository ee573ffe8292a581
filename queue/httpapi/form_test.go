package httpapi

import (
	"bytes"
	"io"
	"mime/multipart"
	"net/http"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
)

// form builds a multipart/form-data body: fields as name/value pairs,
// then files (field, file name, content type, data).
func form(t *testing.T, fields []string, files ...[4]string) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for i := 0; i+1 < len(fields); i += 2 {
		mw.WriteField(fields[i], fields[i+1])
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+f[0]+`"; filename="`+f[1]+`"`)
		h.Set("Content-Type", f[2])
		w, _ := mw.CreatePart(h)
		io.WriteString(w, f[3])
	}
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func (a *testAPI) postForm(t *testing.T, ct string, body io.Reader, idemKey string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", a.url+"/v1/messages", body)
	req.Header.Set("Content-Type", ct)
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPostForm: a multipart/form-data request builds the same message as
// its JSON form, files sent as bytes; a retry with a new boundary is the
// same request for its Idempotency-Key; an unknown field is 400.
func TestPostForm(t *testing.T) {
	a := newTestAPI(t, nil)
	pdf := "%PDF\x00\xff\xfe"
	fields := []string{"from", "a@example.com", "to", "b@example.org", "to", "c@example.org", "subject", "form",
		"text", "plain", "html", `<img src="cid:logo.png">`, "header.X-Tag", "t1"}
	files := [][4]string{{"attachment", "a.pdf", "application/pdf", pdf}, {"inline", "logo.png", "image/png", "PNG"}}
	ct, body := form(t, fields, files...)
	status, resp := a.postForm(t, ct, body, "f1")
	if status != 202 {
		t.Fatalf("%d %s", status, resp)
	}
	ct2, body2 := form(t, fields, files...)
	if ct2 == ct {
		t.Fatal("the two forms share a boundary")
	}
	if status, again := a.postForm(t, ct2, body2, "f1"); status != 202 || again != resp {
		t.Errorf("retry with a new boundary: %d %s, want %s", status, again, resp)
	}
	if n := a.count(t); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
	id := resp[strings.Index(resp, `"id":"`)+6:]
	id = id[:strings.IndexByte(id, '"')]
	m, raw := a.stored(t, id)
	if len(m.Recipients) != 2 {
		t.Errorf("recipients %v", m.Recipients)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("X-Tag") != "t1" || msg.Header.Get("Subject") != "form" {
		t.Errorf("header %v", msg.Header)
	}
	parts := walk(t, msg.Header.Get("Content-Type"), msg.Body)
	for typ, want := range map[string]string{"text/plain": "plain", "application/pdf": pdf, "image/png": "PNG"} {
		if parts[typ] != want {
			t.Errorf("part %s = %q, want %q", typ, parts[typ], want)
		}
	}
	ct, body = form(t, []string{"from", "a@example.com", "to", "b@example.org", "colour", "red"})
	if status, resp := a.postForm(t, ct, body, ""); status != 400 || !strings.Contains(resp, `"field":"colour"`) {
		t.Errorf("unknown field: %d %s", status, resp)
	}
	// The delivery options by their JSON names, tags repeated, metadata
	// as metadata.KEY.
	ct, body = form(t, []string{"from", "a@example.com", "to", "b@example.org", "text", "x",
		"tags", "t1", "tags", "t2", "metadata.user", "42", "expire_at", "2099-01-01T00:00:00Z"})
	status, resp = a.postForm(t, ct, body, "")
	if status != 202 {
		t.Fatalf("options: %d %s", status, resp)
	}
	id = resp[strings.Index(resp, `"id":"`)+6:]
	m, _ = a.stored(t, id[:strings.IndexByte(id, '"')])
	if strings.Join(m.Tags, ",") != "t1,t2" || m.Metadata["user"] != "42" || m.ExpireAt.Year() != 2099 {
		t.Errorf("options stored: tags %q metadata %v expire_at %v", m.Tags, m.Metadata, m.ExpireAt)
	}
	if status, resp := a.postForm(t, "text/plain", strings.NewReader("hi"), ""); status != 415 {
		t.Errorf("text/plain: %d %s, want 415", status, resp)
	}
}
