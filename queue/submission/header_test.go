package submission

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// rewrite runs a message through readHeader, takeAtLeastOne and writeTo as
// Data does, with a fixed extra field, and returns the output.
func rewrite(msg string, max int, extra ...string) (string, *bool, error) {
	br := bufio.NewReaderSize(strings.NewReader(msg), 16)
	h, err := readHeader(br, max)
	if err != nil {
		return "", nil, err
	}
	alo, err := h.takeAtLeastOne()
	if err != nil {
		return "", nil, err
	}
	var out bytes.Buffer
	if err := h.writeTo(&out, extra); err != nil {
		return "", nil, err
	}
	if _, err := io.Copy(&out, br); err != nil {
		return "", nil, err
	}
	return out.String(), alo, nil
}

func TestHeaderRewrite(t *testing.T) {
	yes, no := true, false
	const x = "X-Added: 1\r\n"
	tests := []struct {
		name string
		in   string
		want string
		alo  *bool
		err  string
	}{
		{"plain", "Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\n",
			"Subject: hi\r\nFrom: a@b\r\n" + x + "\r\nbody\r\n", nil, ""},
		{"folded", "Subject: hi\r\n there\r\n\tagain\r\n\r\nbody\r\n",
			"Subject: hi\r\n there\r\n\tagain\r\n" + x + "\r\nbody\r\n", nil, ""},
		{"header only", "Subject: hi\r\n", "Subject: hi\r\n" + x, nil, ""},
		{"header only without CRLF", "Subject: hi", "Subject: hi\r\n" + x, nil, ""},
		{"empty message", "", x, nil, ""},
		{"no header", "\r\nbody\r\n", x + "\r\nbody\r\n", nil, ""},
		{"no separator", "Subject: hi\r\nthis is body\r\nmore\r\n",
			"Subject: hi\r\n" + x + "\r\nthis is body\r\nmore\r\n", nil, ""},
		{"body first", "hello world\r\n", x + "\r\nhello world\r\n", nil, ""},
		{"leading continuation", " hello\r\n", x + "\r\n hello\r\n", nil, ""},
		{"long line", "Subject: " + strings.Repeat("x", 100) + "\r\n\r\nb",
			"Subject: " + strings.Repeat("x", 100) + "\r\n" + x + "\r\nb", nil, ""},
		{"at least one yes", "Subject: hi\r\nX-Outbox-At-Least-One: yes\r\n\r\nbody\r\n",
			"Subject: hi\r\n" + x + "\r\nbody\r\n", &yes, ""},
		{"at least one folded no", "x-outbox-at-least-one:\r\n  NO\r\nSubject: hi\r\n\r\nb",
			"Subject: hi\r\n" + x + "\r\nb", &no, ""},
		{"at least one twice", "X-Outbox-At-Least-One: no\r\nX-Outbox-At-Least-One: No\r\n\r\nb",
			x + "\r\nb", &no, ""},
		{"at least one conflicting", "X-Outbox-At-Least-One: no\r\nX-Outbox-At-Least-One: yes\r\n\r\nb",
			"", nil, "conflicting"},
		{"at least one bad", "X-Outbox-At-Least-One: maybe\r\n\r\nb", "", nil, `"yes" or "no"`},
		{"in body is not header", "Subject: a\r\n\r\nX-Outbox-At-Least-One: maybe\r\n",
			"Subject: a\r\n" + x + "\r\nX-Outbox-At-Least-One: maybe\r\n", nil, ""},
		{"too big", "Subject: " + strings.Repeat("x", 300) + "\r\n\r\n", "", nil, "too big"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, alo, err := rewrite(tt.in, 256, x)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			if (alo == nil) != (tt.alo == nil) || alo != nil && *alo != *tt.alo {
				t.Errorf("at-least-one = %v, want %v", alo, tt.alo)
			}
		})
	}
}

func TestHeaderHas(t *testing.T) {
	br := bufio.NewReader(strings.NewReader("DATE: x\r\nmessage-id: <a@b>\r\nX-Date-Not: 1\r\n\r\n"))
	h, err := readHeader(br, 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"Date": true, "Message-ID": true, "Subject": false, "X-Date": false} {
		if h.has(name) != want {
			t.Errorf("has(%q) = %v, want %v", name, !want, want)
		}
	}
}

func TestHeaderTooBigIsSentinel(t *testing.T) {
	_, err := readHeader(bufio.NewReader(strings.NewReader(strings.Repeat("a: b\r\n", 100))), 50)
	if !errors.Is(err, errHeaderTooBig) {
		t.Fatalf("err = %v, want errHeaderTooBig", err)
	}
}

func TestReceived(t *testing.T) {
	date := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("", 3600))
	tests := []struct {
		name string
		tr   traceInfo
		want string
	}{
		{"one rcpt, TLS and auth", traceInfo{helo: "client.example", ip: netip.MustParseAddr("192.0.2.1"),
			hostname: "mx.example", tls: "TLS 1.3 TLS_AES_128_GCM_SHA256", auth: true, id: "ID1",
			rcpts: []string{"r@example.org"}, date: date},
			"Received: from client.example ([192.0.2.1])\r\n\tby mx.example (Outbox) with ESMTPSA" +
				" (TLS 1.3 TLS_AES_128_GCM_SHA256) id ID1\r\n\tfor <r@example.org>;\r\n\tTue, 04 Mar 2025 05:06:07 +0100\r\n"},
		{"two rcpts, plain, IPv6, hostile helo", traceInfo{helo: "evil(\r\n)x", ip: netip.MustParseAddr("::1"),
			hostname: "mx.example", id: "ID2", rcpts: []string{"a@x", "b@x"}, date: date},
			"Received: from evil????x ([IPv6:::1])\r\n\tby mx.example (Outbox) with ESMTP id ID2;\r\n\tTue, 04 Mar 2025 05:06:07 +0100\r\n"},
		{"mapped v4, auth only", traceInfo{helo: "h", ip: netip.MustParseAddr("::ffff:127.0.0.1"),
			hostname: "mx", auth: true, id: "ID3", rcpts: []string{"a@x"}, date: date},
			"Received: from h ([127.0.0.1])\r\n\tby mx (Outbox) with ESMTPA id ID3\r\n\tfor <a@x>;\r\n\tTue, 04 Mar 2025 05:06:07 +0100\r\n"},
	}
	for _, tt := range tests {
		if got := tt.tr.received(); got != tt.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tt.name, got, tt.want)
		}
	}
}

// FuzzHeaderValue: a field's value is its text unfolded (every CRLF and
// LF removed) and trimmed, whether or not it was folded.
// Seeds: testdata/fuzz/FuzzHeaderValue.
func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{" x\r\n", " a\r\n b \r\n", "\r\n", " ab\r \r\n", "x\n", " a\rb\r\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		fl := headerField{name: "Subject", raw: []byte("Subject:" + v)}
		want := strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(v, "\r\n", ""), "\n", ""))
		if got := fl.value(); got != want {
			t.Fatalf("value of %q = %q, want %q", v, got, want)
		}
	})
}
