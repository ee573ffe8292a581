package submission

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheckAddress: whatever a client sends, an accepted address is a
// plausible mailbox, and the EHLO sanitizer never lets header-breaking bytes
// through. Seeds: testdata/fuzz/FuzzCheckAddress.
func FuzzCheckAddress(f *testing.F) {
	for _, s := range []string{"user@example.com", "用户@例子.广告", "x@[IPv6:::1]", "a..b@c", "@", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		nonASCII, err := checkAddress(addr)
		if err == nil {
			if !strings.Contains(addr, "@") || len(addr) > maxMailbox || !utf8.ValidString(addr) {
				t.Fatalf("accepted %q", addr)
			}
			for i := 0; i < len(addr); i++ {
				if c := addr[i]; c <= ' ' || c == 0x7f || strings.IndexByte(`<>"(),;\`, c) >= 0 {
					t.Fatalf("accepted %q with byte %q", addr, c)
				}
			}
			hasHigh := strings.IndexFunc(addr, func(r rune) bool { return r >= utf8.RuneSelf }) >= 0
			if nonASCII != hasHigh {
				t.Fatalf("nonASCII = %v for %q", nonASCII, addr)
			}
		}
		s := sanitizeTrace(addr)
		if s == "" || strings.ContainsAny(s, "()\\;\r\n\t ") || len(s) > maxDomain {
			t.Fatalf("sanitizeTrace(%q) = %q", addr, s)
		}
	})
}

// FuzzHeader: readHeader never loses or invents bytes. For input with CRLF
// line ends only (all that gets past inputReader), writing the header back
// reproduces the input exactly, except for the CRLF inserted before a body
// that had no separator line; and no at-least-one field survives.
// Seeds: testdata/fuzz/FuzzHeader.
func FuzzHeader(f *testing.F) {
	for _, s := range []string{
		"Subject: hi\r\n\r\nbody\r\n",
		"Subject: hi\r\n folded\r\n\r\n",
		"no header line\r\n",
		"X-Outbox-At-Least-One: yes\r\nA: b\r\n\r\nx",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(in), 16)
		h, err := readHeader(br, 512)
		if err != nil {
			if err != errHeaderTooBig {
				t.Fatalf("readHeader: %v", err)
			}
			return
		}
		for _, fl := range h.fields {
			if !bytes.HasPrefix(fl.raw, []byte(fl.name+":")) {
				t.Fatalf("field %q does not start with its name %q", fl.raw, fl.name)
			}
		}
		var headLen int
		for _, fl := range h.fields {
			headLen += len(fl.raw)
		}
		_, err = h.takeAtLeastOne()
		if err == nil && h.has(atLeastOneHeader) {
			t.Fatal("at-least-one field survived")
		}
		if bytes.Contains(bytes.ToLower(in), []byte("x-outbox-at-least-one")) {
			return // fields were removed; the round trip no longer holds
		}
		var out bytes.Buffer
		if err := h.writeTo(&out, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(&out, br); err != nil {
			t.Fatal(err)
		}
		if !crlfOnly(in) {
			return
		}
		want := in
		if h.first != nil {
			want = append(append(append([]byte{}, in[:headLen]...), "\r\n"...), in[headLen:]...)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Fatalf("round trip\n got %q\nwant %q", out.Bytes(), want)
		}
	})
}

// crlfOnly reports whether every CR and LF in b is part of a CRLF pair.
func crlfOnly(b []byte) bool {
	for i, c := range b {
		if c == '\r' && (i+1 == len(b) || b[i+1] != '\n') || c == '\n' && (i == 0 || b[i-1] != '\r') {
			return false
		}
	}
	return true
}
