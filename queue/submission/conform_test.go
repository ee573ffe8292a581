package submission

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/delivery/sevenbit"
	"github.com/outbox-mta/outbox/store"
)

// conformCase is a message a client sends and what the listener stores.
type conformCase struct {
	name      string
	signed    bool
	msg       string
	wantCode  int // 0: accepted
	bodyType  store.BodyType
	converted bool     // stored body differs from what the client sent, beyond the added fields
	want      []string // substrings of the stored message
	unfolded  string   // substring of the stored message once unfolded
	names     []string // field names the signature must cover, beyond the original ones
}

// TestConform: what the listener stores for 8-bit bodies, long lines and
// a message of header fields only, signed or not. A signed message is
// stored (and signed) in its 7-bit form, so every copy verifies; an
// unsigned 8-bit one stays 8-bit; long body lines are always re-encoded;
// a long header line is refused and the session goes on.
func TestConform(t *testing.T) {
	long := strings.Repeat("0123456789", 150)
	words := strings.Repeat("word ", 350) // go-smtp's line limit is 2000
	tests := []conformCase{
		{name: "7-bit", signed: true, msg: "From: a@example.com\r\nSubject: s\r\n\r\nplain\r\n",
			bodyType: store.Body7Bit, want: []string{"\r\n\r\nplain\r\n"}},
		{name: "8-bit signed", signed: true,
			msg:      "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nUn caf\xc3\xa9 au lait, s'il vous pla\xc3\xaet\r\n",
			bodyType: store.Body7Bit, converted: true,
			want: []string{"Content-Transfer-Encoding: quoted-printable\r\n", "Un caf=C3=A9 au lait"}},
		{name: "8-bit unsigned", msg: "From: a@example.com\r\n\r\ncaf\xc3\xa9\r\n",
			bodyType: store.Body8BitMIME, want: []string{"\r\n\r\ncaf\xc3\xa9\r\n"}},
		{name: "long line unsigned", msg: "From: a@example.com\r\n\r\n" + long + "\r\n",
			bodyType: store.Body7Bit, converted: true,
			want: []string{"MIME-Version: 1.0\r\n", "Content-Transfer-Encoding: quoted-printable\r\n", "=\r\n"}},
		{name: "long line signed", signed: true, msg: "From: a@example.com\r\n\r\n" + long + "\r\n",
			bodyType: store.Body7Bit, converted: true, want: []string{"MIME-Version: 1.0\r\n"},
			names: []string{"MIME-Version", "Content-Type", "Content-Transfer-Encoding"}},
		{name: "headers only signed", signed: true, msg: "From: a@example.com\r\nSubject: no body\r\n",
			bodyType: store.Body7Bit, want: []string{"Subject: no body\r\n", ">\r\n\r\n"}},
		{name: "long header line folded", signed: true, msg: "From: a@example.com\r\nSubject: " + words + "\r\n\r\nx\r\n",
			bodyType: store.Body7Bit, unfolded: "\r\nSubject: " + words + "\r\n"},
		{name: "long header line without white space", signed: true, msg: "From: a@example.com\r\nSubject: " + long + "\r\n\r\nx\r\n",
			wantCode: 554},
		{name: "long header line in a part", signed: true, wantCode: 554,
			msg: "From: a@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX-Long: " + words + "\r\n\r\n\xc3\xa9\r\n--b--\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { runConform(t, tt) })
	}
}

// runConform sends tt's message to a listener over a real spool and
// checks what was stored: converted when it must be, compliant, and
// signed over the bytes stored.
func runConform(t *testing.T, tt conformCase) {
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler), InlineMax: 256})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	signer := &fakeSigner{skip: !tt.signed}
	ts := startServer(t, func(o *Options) {
		o.Spool, o.Signer, o.MaxMessageSize = db, signer, 1<<20
	})
	c := client(t, ts.addr, "127.0.0.1")
	reply, err := send(c, "a@example.com", []string{"x@example.org"}, tt.msg)
	if tt.wantCode != 0 {
		if got, _ := code(t, err); got != tt.wantCode {
			t.Fatalf("reply %v, want %d", err, tt.wantCode)
		}
		// The session is still usable.
		if _, err := send(c, "a@example.com", []string{"x@example.org"}, "From: a@example.com\r\n\r\nok\r\n"); err != nil {
			t.Fatalf("next message on the same session: %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	id := strings.TrimPrefix(reply, "2.0.0 Ok: queued as ")
	m, err := db.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := db.OpenBody(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(rc)
	rc.Close()
	if m.BodyType != tt.bodyType {
		t.Errorf("BodyType %d, want %d", m.BodyType, tt.bodyType)
	}
	checkStored(t, tt, id, stored)
	if tt.signed {
		checkSigned(t, tt, signer, stored)
	}
}

// checkStored checks the stored message of tt, queued as id.
func checkStored(t *testing.T, tt conformCase, id string, stored []byte) {
	t.Helper()
	for _, w := range tt.want {
		if !bytes.Contains(stored, []byte(w)) {
			t.Errorf("stored message lacks %q:\n%s", w, stored)
		}
	}
	if tt.unfolded != "" && !strings.Contains(strings.ReplaceAll(string(stored), "\r\n ", " "), tt.unfolded) {
		t.Errorf("unfolded stored message lacks %q:\n%s", tt.unfolded, stored)
	}
	// The Received field names the queue ID the client was given.
	if got := regexp.MustCompile(` id (\S+)`).FindSubmatch(stored); got == nil || string(got[1]) != id {
		t.Errorf("Received names id %q, queued as %s", got, id)
	}
	_, body, _ := strings.Cut(tt.msg, "\r\n\r\n")
	if converted := !bytes.HasSuffix(stored, []byte(body)); converted != tt.converted {
		t.Errorf("converted = %v, want %v:\n%s", converted, tt.converted, stored)
	}
	var sc sevenbit.Scanner
	sc.Write(stored)
	if r := sc.Report(); r.LongBodyLine || r.LongHeaderLine || (tt.signed && r.EightBit()) {
		t.Errorf("stored message not compliant: %+v", r)
	}
}

// checkSigned checks that the signer saw the bytes stored after its
// signature, and covered the fields tt names.
func checkSigned(t *testing.T, tt conformCase, signer *fakeSigner, stored []byte) {
	t.Helper()
	signer.mu.Lock()
	seen, fields := signer.seen.String(), signer.fields
	signer.mu.Unlock()
	if rest, _ := bytes.CutPrefix(stored, []byte("DKIM-Signature: fake\r\n")); string(rest) != seen {
		t.Errorf("signer saw other bytes than stored:\n%q\n%q", seen, rest)
	}
	for _, n := range tt.names {
		if !slices.Contains(fields, n) {
			t.Errorf("signed fields %q lack %s", fields, n)
		}
	}
}
