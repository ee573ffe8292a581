package submission

import (
	"strings"
	"testing"
)

func TestLimitsAndMalformedAddresses(t *testing.T) {
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd\r\n", 70)
	tests := []struct {
		name string
		cmds []string // sent one by one; every reply but the last must be 2xx/3xx
		want string   // prefix of the last reply
	}{
		{"oversize DATA", []string{"MAIL FROM:<a@example.com>", "RCPT TO:<b@example.org>", "DATA", big + "."}, "552 5.3.4"},
		{"oversize declared", []string{"MAIL FROM:<a@example.com> SIZE=999999"}, "552 5.3.4"},
		{"header block too big", []string{"MAIL FROM:<a@example.com>", "RCPT TO:<b@example.org>", "DATA",
			strings.Repeat("X-Filler: 0123456789012345678901234567890123456789\r\n", 30) + "\r\nbody\r\n."}, "552 5.3.4"},
		{"too many recipients", []string{"MAIL FROM:<a@example.com>", "RCPT TO:<1@example.org>",
			"RCPT TO:<2@example.org>", "RCPT TO:<3@example.org>", "RCPT TO:<4@example.org>"}, "452 4.5.3"},
		{"bad sender", []string{"MAIL FROM:<a@exa..mple.com>"}, "501 5.1.7 Bad sender address syntax: empty label"},
		{"bad recipient", []string{"MAIL FROM:<a@example.com>", "RCPT TO:<b@exa_mple.org>"},
			"501 5.1.3 Bad recipient address syntax: character not allowed in domain"},
		{"quoted local part", []string{"MAIL FROM:<a@example.com>", `RCPT TO:<"b c"@example.org>`}, "501 5.1.3"},
		{"unparsable for go-smtp", []string{"MAIL FROM:<a@example.com>", "RCPT TO:<nodomain>"}, "501 5.5.2"},
		{"non-ASCII without SMTPUTF8", []string{"MAIL FROM:<josé@example.com>"}, "553 5.6.7"},
		{"non-ASCII recipient without SMTPUTF8", []string{"MAIL FROM:<a@example.com>", "RCPT TO:<用户@例子.广告>"}, "553 5.6.7"},
		{"unknown MAIL parameter", []string{"MAIL FROM:<a@example.com> X-ATLEASTONE=NO"}, "500 5.5.4"},
		{"bad at-least-one header", []string{"MAIL FROM:<a@example.com>", "RCPT TO:<b@example.org>", "DATA",
			"X-Outbox-At-Least-One: sometimes\r\n\r\nx\r\n."}, "554 5.6.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, func(o *Options) { o.MaxHeaderSize = 1024 })
			raw := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
			raw.reply()
			raw.cmd("EHLO c\r\n")
			var last string
			for i, c := range tt.cmds {
				last = raw.cmd(c + "\r\n")
				if i < len(tt.cmds)-1 && last[0] != '2' && last[0] != '3' {
					t.Fatalf("%q: %q", c, last)
				}
			}
			expect(t, last, tt.want)
			if ts.spool.count() != 0 {
				t.Error("message stored")
			}
			// The session stays usable afterwards.
			expect(t, raw.cmd("RSET\r\n"), "250 ")
			expect(t, raw.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")
		})
	}
}
