package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// readmeAPIExamples returns the curl examples of README's "The HTTP API"
// section, the shell blocks that post to the default address.
func readmeAPIExamples(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "\n## The HTTP API\n")
	if !ok {
		t.Fatal("README.md has no \"## The HTTP API\" section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	var out []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(sec, -1) {
		if strings.HasPrefix(m[1], "curl -sS http://127.0.0.1:8587/") {
			out = append(out, m[1])
		}
	}
	return out
}

// pyParts is a delivered message as Python's email package reads it.
type pyParts struct {
	Headers map[string]string `json:"headers"`
	Parts   []struct {
		Type        string `json:"type"`
		Filename    string `json:"filename"`
		ContentID   string `json:"content_id"`
		Disposition string `json:"disposition"`
		Content     []byte `json:"content"` // decoded (base64 in the JSON)
	} `json:"parts"`
}

// parseWithPython parses data with Python's email package (policy
// default, the parser applications use), returning its leaf parts decoded.
func parseWithPython(t *testing.T, python string, data []byte) pyParts {
	t.Helper()
	const script = `
import sys, json, email, base64
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
parts = []
for p in m.walk():
    if p.is_multipart():
        continue
    parts.append({"type": p.get_content_type(), "filename": p.get_filename() or "",
        "content_id": p.get("Content-ID", ""), "disposition": p.get_content_disposition() or "",
        "content": base64.b64encode(p.get_payload(decode=True)).decode()})
hdrs = {k: str(m[k]) for k in ("From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID") if m[k] is not None}
json.dump({"headers": hdrs, "parts": parts}, sys.stdout)
`
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python email: %v\n%s", err, out)
	}
	var p pyParts
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAPIReadmeExamples runs each curl example of the README against the
// real daemon and checks, with Python's email package, that the message
// the receiver gets holds exactly what was sent: parts, file names,
// content IDs and bytes; and that Bcc is in the envelope only.
func TestAPIReadmeExamples(t *testing.T) {
	curl := needTool(t, "curl")
	python := needTool(t, "/usr/bin/python3")
	examples := readmeAPIExamples(t)
	if len(examples) != 5 {
		t.Fatalf("README has %d curl examples in \"The HTTP API\", want 5", len(examples))
	}
	w := newMXWorld(t,
		"example.net. MX 10 mx.example.net.",
		"example.com. MX 10 mx.example.net.",
		"mx.example.net. A 127.0.0.3")
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf("[api]\naddress = %q\n", api)), addr)

	// The files the HTML example attaches, in the shell's directory.
	pdf := "%PDF-1.4\n" + string([]byte{0, 1, 2, 0xfe, 0xff}) + strings.Repeat("binary ", 300)
	png := "\x89PNG\r\n\x1a\n" + strings.Repeat("\x00\xff", 100)
	writeFile(t, filepath.Join(dir, "invoice.pdf"), pdf)
	writeFile(t, filepath.Join(dir, "logo.png"), png)

	run := func(i int) string {
		t.Helper()
		return runExample(t, curl, dir, strings.ReplaceAll(examples[i], "127.0.0.1:8587", api))
	}
	ids := []string{run(0), run(1), run(2), run(3)}
	idem := 3 // the examples in README order: text, HTML, form, idempotent
	// The idempotent example, retried after a kill -9 of the daemon: the
	// same ID, and one message delivered. The kill comes once the delivery
	// is recorded, outside the duplicate window of at-least-once delivery
	// (a remote 250 not yet committed), which would resend the one
	// message whatever the key.
	d.waitQueueEmpty(30 * time.Second)
	d.kill9()
	d.start()
	if again := run(idem); again != ids[idem] {
		t.Errorf("the retried request got ID %s, want the first one, %s", again, ids[idem])
	}
	d.waitQueueEmpty(30 * time.Second)
	byRcpt := map[string][]byte{}
	for _, m := range mx.Messages() {
		for _, r := range m.Rcpts {
			byRcpt[r+" "+subjectOf(m.Data)] = m.Data
		}
	}
	n := 0
	for _, m := range mx.Messages() {
		if subjectOf(m.Data) == "Order 1042 has shipped" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("the idempotent example was delivered %d times, want once", n)
	}
	text := byRcpt["ann@example.net Your order has shipped"]
	if text == nil {
		t.Fatalf("the text example was not delivered to ann@example.net; got %v", keys(byRcpt))
	}
	p := parseWithPython(t, python, text)
	if len(p.Parts) != 1 || p.Parts[0].Type != "text/plain" || strings.TrimRight(string(p.Parts[0].Content), "\r\n") != "It will arrive on Tuesday." {
		t.Errorf("text example parts: %+v", p.Parts)
	}
	if p.Headers["From"] != "Shop <shop@example.com>" || p.Headers["Message-ID"] != "<"+ids[0]+"@outbox.test>" || p.Headers["Date"] == "" {
		t.Errorf("text example headers: %v", p.Headers)
	}

	html := byRcpt["ann@example.net Invoice 42"]
	archived := byRcpt["archive@example.com Invoice 42"]
	if html == nil || archived == nil {
		t.Fatalf("the HTML example did not reach both ann@ and the Bcc archive@; got %v", keys(byRcpt))
	}
	if bytes.Contains(html, []byte("archive@")) {
		t.Errorf("the Bcc recipient is in the delivered message:\n%s", html)
	}
	receipt := byRcpt["ann@example.net Your receipt"]
	if receipt == nil {
		t.Fatalf("the form example was not delivered; got %v", keys(byRcpt))
	}
	p = parseWithPython(t, python, receipt)
	if len(p.Parts) != 2 || string(p.Parts[1].Content) != pdf || p.Parts[1].Filename != "invoice.pdf" || p.Parts[1].Type != "application/pdf" ||
		strings.TrimRight(string(p.Parts[0].Content), "\r\n") != "The receipt is attached." {
		t.Errorf("form example parts: %+v", p.Parts)
	}

	checkHTMLExample(t, python, html, pdf, png)

	// The scheduled example: spooled, due in an hour, not attempted.
	id := run(4)
	show := d.cli("queue", "show", id)
	for _, want := range []string{"scheduled:", "expires:", "tags:      trial\n", `meta:      customer="1042"`, "attempts 0"} {
		if !strings.Contains(show, want) {
			t.Errorf("queue show of the scheduled example lacks %q:\n%s", want, show)
		}
	}
}

// runExample runs one README curl example in dir and returns the queue
// ID of its 202.
func runExample(t *testing.T, curl, dir, ex string) string {
	t.Helper()
	cmd := exec.Command("bash", "-c", strings.ReplaceAll(ex, "curl ", curl+" -w '\\n%{http_code}' "))
	cmd.Dir = dir
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s\n%s", err, ex, out)
	}
	o := strings.TrimSpace(string(out))
	cut := strings.LastIndexByte(o, '\n')
	body, code := o[:max(cut, 0)], o[cut+1:]
	var resp struct{ ID string }
	if code != "202" || json.Unmarshal([]byte(body), &resp) != nil || resp.ID == "" {
		t.Fatalf("%s\n%s %s, want 202 with an id", ex, code, body)
	}
	return resp.ID
}

// checkHTMLExample checks the parts of the README's HTML example as
// Python's email package reads them: bytes, types, names and IDs as sent.
func checkHTMLExample(t *testing.T, python string, html []byte, pdf, png string) {
	t.Helper()
	p := parseWithPython(t, python, html)
	want := []struct{ typ, filename, cid, content string }{
		{"text/plain", "", "", "Your invoice is attached."},
		{"text/html", "", "", `<p><img src="cid:logo"> Your invoice is attached.</p>`},
		{"image/png", "logo.png", "<logo>", png},
		{"application/pdf", "invoice.pdf", "", pdf},
	}
	if len(p.Parts) != len(want) {
		t.Fatalf("HTML example: %d parts, want %d: %+v", len(p.Parts), len(want), p.Parts)
	}
	for i, w := range want {
		g := p.Parts[i]
		got := string(g.Content)
		if strings.HasPrefix(w.typ, "text/") {
			got = strings.TrimRight(got, "\r\n") // the line end the body gains
		}
		if g.Type != w.typ || g.Filename != w.filename || g.ContentID != w.cid || got != w.content {
			t.Errorf("part %d: %s %q %q (%d bytes), want %s %q %q (%d bytes)", i, g.Type, g.Filename, g.ContentID, len(g.Content), w.typ, w.filename, w.cid, len(w.content))
		}
	}
}

func subjectOf(data []byte) string {
	for _, l := range strings.Split(string(data), "\r\n") {
		if s, ok := strings.CutPrefix(l, "Subject: "); ok {
			return s
		}
		if l == "" {
			break
		}
	}
	return ""
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// postJSON posts body to the API at addr and returns the status and the
// decoded answer.
func postJSON(t *testing.T, addr, body string, header ...string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", "http://"+addr+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestAPIDKIMSigned: a message posted over HTTP is signed with the keys
// SMTP submissions are signed with, and the delivered copy verifies with
// dkimpy.
func TestAPIDKIMSigned(t *testing.T) {
	py := pythonDKIM(t)
	dir := t.TempDir()
	records := keygenRecords(t, dir)
	w := newMXWorld(t, append([]string{"example.net. MX 10 mx.example.net.", "mx.example.net. A 127.0.0.3"}, txtRecords(records)...)...)
	mx := w.mx(t, "127.0.0.3", smtptest.Options{})
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	d := startDaemon(t, dir, w.config(t, dir, addr, fmt.Sprintf(`
[api]
address = %q
[[dkim.domain]]
domain = "example.com"
[[dkim.domain.key]]
selector = "rsa1"
key_file = %q
[[dkim.domain.key]]
selector = "ed1"
key_file = %q
`, api, filepath.Join(dir, "rsa1.key"), filepath.Join(dir, "ed1.key"))), addr)
	status, out := postJSON(t, api, `{"from":"App <app@example.com>","to":["rcpt@example.net"],"subject":"Grüße",
		"text":"Grüße aus Köln","html":"<b>Grüße</b>","attachments":[{"filename":"a.bin","content":"AAEC/w=="}]}`)
	if status != 202 {
		t.Fatalf("POST: %d %v", status, out)
	}
	d.waitQueueEmpty(60 * time.Second)
	msgs := mx.Messages()
	if len(msgs) != 1 || !strings.HasPrefix(string(msgs[0].Data), "DKIM-Signature:") {
		t.Fatalf("MX received %d messages, want 1 signed", len(msgs))
	}
	file := filepath.Join(dir, "delivered.eml")
	writeFile(t, file, string(msgs[0].Data))
	args := []string{"-c", verifyScript, file}
	for name, v := range records {
		args = append(args, name+"="+v)
	}
	res, err := exec.Command(py, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dkimpy: %v\n%s", err, res)
	}
	if got := strings.Join(strings.Fields(string(res)), " "); got != "example.com/rsa1 ok example.com/ed1 ok" {
		t.Errorf("dkimpy says %q, want both signatures ok", got)
	}
}

// TestAPIErrorTable: against the real daemon with loopback trust off, each
// refusal has its status and names its field, a key made by `outbox
// api-key create` is accepted until a reload removes it, and nothing
// refused is spooled.
func TestAPIErrorTable(t *testing.T) {
	dir := t.TempDir()
	code, out := runOutbox(t, dir, "api-key", "create", "--name", "shop")
	secret := regexp.MustCompile(`Bearer (obx_\S+)`).FindStringSubmatch(out)
	if code != 0 || secret == nil || !strings.Contains(out, "[[api.keys]]\nname = \"shop\"\nhash = \"") {
		t.Fatalf("api-key create: exit %d\n%s", code, out)
	}
	entry := out[strings.Index(out, "[[api.keys]]"):]
	if strings.Contains(entry, secret[1]) {
		t.Fatalf("the [[api.keys]] entry holds the secret itself:\n%s", entry)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	api := fmt.Sprintf("127.0.0.1:%d", freePort(t, "127.0.0.1"))
	cfg := fmt.Sprintf("hostname = \"outbox.test\"\n[spool]\ndir = %q\n[[listen.submission]]\naddress = %q\n[delivery]\npaused = true\n[limits]\nmax_recipients = 2\nmax_message_size = \"64KiB\"\n[api]\naddress = %q\ntrust_loopback = false\n",
		filepath.Join(dir, "spool"), addr, api)
	d := startDaemon(t, dir, cfg+entry, addr)
	key := "Bearer " + secret[1]
	big := strings.Repeat("x", 70<<10)
	for _, c := range []struct {
		name, auth, body string
		status           int
		field            string
	}{
		{"no key", "", `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`, 401, "authorization"},
		{"wrong key", "Bearer obx_wrong", `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`, 403, "authorization"},
		{"bad address", key, `{"from":"a@example.com","to":["b@"],"text":"x"}`, 400, "to[0]"},
		{"invalid base64", key, `{"from":"a@example.com","to":["b@example.org"],"attachments":[{"filename":"f","content":"***"}]}`, 400, "attachments[0].content"},
		{"unknown field", key, `{"from":"a@example.com","to":["b@example.org"],"txt":"x"}`, 400, "txt"},
		{"no recipient", key, `{"from":"a@example.com","to":[],"text":"x"}`, 400, "to"},
		{"too many recipients", key, `{"from":"a@example.com","to":["b@x.org","c@x.org","d@x.org"],"text":"x"}`, 400, "to"},
		{"over the size", key, `{"from":"a@example.com","to":["b@example.org"],"text":"` + big + `"}`, 413, ""},
	} {
		status, resp := postJSON(t, api, c.body, "Authorization", c.auth)
		if c.auth == "" {
			status, resp = postJSON(t, api, c.body)
		}
		if status != c.status || resp["field"] != nil && resp["field"] != c.field || c.field != "" && resp["field"] != c.field {
			t.Errorf("%s: %d %v, want %d field %q", c.name, status, resp, c.status, c.field)
		}
	}
	if msgs := d.queueJSON(); len(msgs) != 0 {
		t.Fatalf("refused requests spooled %d messages", len(msgs))
	}
	if status, resp := postJSON(t, api, `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`, "Authorization", key); status != 202 {
		t.Fatalf("with the key: %d %v", status, resp)
	}
	// A reload without the key locks its holder out.
	writeFile(t, d.config, ownAPIPort(cfg))
	d.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "the reload", 10*time.Second, func() bool { return strings.Contains(d.log.String(), "configuration reloaded") })
	if status, resp := postJSON(t, api, `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`, "Authorization", key); status != 403 {
		t.Errorf("after the key was removed: %d %v, want 403", status, resp)
	}
	if msgs := d.queueJSON(); len(msgs) != 1 || msgs[0]["user"] != "key:shop" {
		t.Errorf("queue: %v, want the one message of key shop", msgs)
	}
}
