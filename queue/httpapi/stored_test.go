package httpapi

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// storedCases are requests whose stored message and record are held to
// golden files: every kind of line end and trailing space in text, 8-bit
// and encoded headers, TLS-Required in any case, raw messages with and
// without the fields Outbox adds.
var storedCases = map[string]string{
	"text-line-ends": `{"from":"a@example.com","to":["b@example.org"],"subject":"ends",
		"text":"lf\ncrlf\r\ncr\rcrcrlf\r\r\nlfcr\n\rspace \ntab\t\r\nsp-cr \r=equals=\nGrüße ünd €\n` +
		strings.Repeat("long", 60) + `\n` + strings.Repeat("y", 76) + `\n` + strings.Repeat("z", 75) + ` \nend\r"}`,
	"text-trailing-lf":  `{"from":"a@example.com","to":["b@example.org"],"text":"one\n\n\ntwo\n"}`,
	"text-trailing-tab": `{"from":"a@example.com","to":["b@example.org"],"text":"tab\t"}`,
	"everything": `{"from":"Ännchen App <app@example.com>","to":["ann@example.org","Bob Builder <bob@example.org>"],
		"cc":["c@example.org"],"bcc":["hidden@example.net"],"reply_to":"help@example.com",
		"subject":"Héllo wörld, a subject long enough that it has to be folded over more than one line of the header",
		"text":"plain\r\nline","html":"<p>hi\n<img src=\"cid:logo\"></p>\n",
		"headers":{"X-Campaign":"spring ü","TLS-Required":"No","X-Long":"` + strings.Repeat("word ", 40) + `"},
		"attachments":[{"filename":"a.pdf","content_type":"application/pdf","content":"` + b64("%PDF\x00\xff"+strings.Repeat("b", 100)) + `"},
		{"content_id":"logo","filename":"logo.png","content_type":"image/png","content":"` + b64("PNG") + `"}]}`,
	"html-only":       `{"from":"a@example.com","to":["b@example.org"],"html":"<b>x</b>\n"}`,
	"attachment-only": `{"from":"a@example.com","to":["b@example.org"],"attachments":[{"filename":"f.txt","content":"` + b64("f\n") + `"}]}`,
	"tls-required-case": `{"from":"a@example.com","to":["b@example.org"],"text":"x",
		"headers":{"TLS-Required":"yes","tls-required":" no "}}`,
	"tls-required-utf8": `{"from":"a@example.com","to":["b@example.org"],"text":"x","headers":{"Tls-Required":"nö"}}`,
	"raw-complete": `{"raw":"` + b64("Date: Mon, 1 Jan 2024 00:00:00 +0000\r\nMessage-ID:\r\n <own@example.com>\r\n"+
		"TLS-Required: No\r\nFrom: a@example.com\r\n\r\nbody\r\n") + `","envelope":{"from":"a@example.com","to":["b@example.org"]}}`,
	"raw-bare": `{"raw":"` + b64("From: a@example.com\r\nSubject: bare\r\n\r\nbody\r\n") +
		`","envelope":{"from":"","to":["b@example.org"]}}`,
	"raw-empty-message-id": `{"raw":"` + b64("Message-Id:   \r\nFrom: a@example.com\r\n\r\nbody\r\n") +
		`","envelope":{"from":"a@example.com","to":["b@example.org"]}}`,
	"raw-8bit": `{"raw":"` + b64("From: a@example.com\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n") +
		`","envelope":{"from":"a@example.com","to":["b@example.org"]}}`,
	"raw-no-header": `{"raw":"` + b64("\r\nbody only\r\n") + `","envelope":{"from":"a@example.com","to":["b@example.org"]}}`,
}

// boundaryRE finds the multipart boundaries go-message picks at random.
var boundaryRE = regexp.MustCompile(`boundary=([0-9a-f]+)`)

// TestStoredAsGolden: what a request stores — the message's bytes and the
// record's fields derived from its header — is what the golden files in
// testdata/stored hold, with the queue ID and boundaries replaced.
func TestStoredAsGolden(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	a := newTestAPI(t, func(o *Options) { o.Now = func() time.Time { return now }; o.MaxRecipients = 10 })
	for name, body := range storedCases {
		t.Run(name, func(t *testing.T) {
			if !json.Valid([]byte(body)) {
				t.Fatalf("the case is not JSON: %s", body)
			}
			status, out := a.post(t, body, "")
			if status != http.StatusAccepted {
				t.Fatalf("status %d: %v", status, out)
			}
			id := out["id"].(string)
			m, msg := a.stored(t, id)
			got := fmt.Sprintf("message-id: %s\ntls: %v\nbody-type: %v\nsize: %d\n\n%s", m.MessageID, m.TLSReq, m.BodyType, m.Size, msg)
			got = strings.ReplaceAll(got, id, "QUEUEID")
			for i, b := range boundaryRE.FindAllStringSubmatch(got, -1) {
				got = strings.ReplaceAll(got, b[1], fmt.Sprintf("BOUNDARY%d", i))
			}
			path := filepath.Join("testdata", "stored", name+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("stored:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
