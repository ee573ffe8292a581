package dsn

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzBuildFull feeds arbitrary original messages to a RET=FULL failure
// notice. Whatever the message, the notice parses, keeps CRLF line ends,
// the 998-octet limit and 7 bits, and returns either the whole message
// (message/rfc822, exactly as crlf7bit makes it) or its header block.
func FuzzBuildFull(f *testing.F) {
	f.Add([]byte(origHeaders), true)
	f.Add([]byte("Subject: x\n\nbody with a bare LF\n--outbox-test-boundary\n"), true)
	f.Add([]byte("Subject: caf\xc3\xa9\r\n\r\n8-bit body \xff\r\n"), true)
	f.Add(append([]byte("Subject: long\r\n\r\n"), bytes.Repeat([]byte("x"), 1200)...), false)
	f.Fuzz(func(t *testing.T, msg []byte, complete bool) {
		n := &Notice{
			ReportingMTA: "mx.example.com", Sender: "alice@example.com", Now: now,
			Boundary: "outbox-test-boundary", MessageID: "fuzz@mx.example.com",
			Headers: msg, Full: msg, FullComplete: complete,
			Recipients: []Recipient{{Addr: "bob@example.net", Action: Failed, Code: 550, Diagnostic: "550 5.1.1 no"}},
		}
		raw, err := Build(n)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("unexpected error: %v", err)
			}
			return
		}
		if err := checkLines(raw); err != nil {
			t.Fatal(err)
		}
		if !isASCII(string(raw)) {
			t.Fatal("8-bit octets in a notice to an ASCII sender")
		}
		p, err := parseNotice(raw)
		if err != nil {
			t.Fatalf("does not parse: %v\n%s", err, raw)
		}
		full, fullErr := crlf7bit(msg)
		returnsFull := complete && len(msg) <= MaxReturnBytes && fullErr == nil
		switch {
		case returnsFull && (len(p.Parts) != 3 || p.Parts[2].Type != "message/rfc822" || !bytes.Equal(p.Parts[2].Body, full)):
			t.Fatalf("whole message not returned intact")
		case !returnsFull && len(p.Parts) == 3 && p.Parts[2].Type == "message/rfc822":
			t.Fatalf("message returned although it cannot be")
		}
	})
}
