package submission

import (
	"strconv"
	"testing"
)

// TestSmugglingRefused sends SMTP smuggling payloads byte for byte: each
// hides a second transaction behind a line end other than CRLF, which a
// later hop might take for the end of data.
func TestSmugglingRefused(t *testing.T) {
	const smuggled = "MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: forged\r\n\r\nx\r\n"
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"fine", "Subject: ok\r\n\r\nhello\r\n", "250 2.0.0"},
		{"bare LF", "Subject: x\r\n\r\nhello\nworld\r\n", "554 5.6.0"},
		{"LF dot LF", "Subject: x\r\n\r\nhello\n.\n" + smuggled, "554 5.6.0"},
		{"CRLF dot LF", "Subject: x\r\n\r\nhello\r\n.\n" + smuggled, "554 5.6.0"},
		{"LF dot CRLF", "Subject: x\r\n\r\nhello\n.\r\n" + smuggled, "554 5.6.0"},
		{"bare CR", "Subject: x\r\n\r\nhello\rworld\r\n", "554 5.6.0"},
		{"CR dot CR", "Subject: x\r\n\r\nhello\r.\r" + smuggled, "554 5.6.0"},
		{"bare LF in header", "Subject: x\nX-Y: z\r\n\r\nhello\r\n", "554 5.6.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			raw := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
			raw.reply()
			raw.cmd("EHLO c\r\n")
			expect(t, raw.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")
			expect(t, raw.cmd("RCPT TO:<b@example.org>\r\n"), "250 ")
			expect(t, raw.cmd("DATA\r\n"), "354 ")
			expect(t, raw.cmd(tt.payload+".\r\n"), tt.want)
			// Nothing smuggled ran: the session is back at the start and
			// only a fine message was stored.
			expect(t, raw.cmd("RCPT TO:<c@example.org>\r\n"), "502 5.5.1")
			want := 0
			if tt.want[0] == '2' {
				want = 1
			}
			if n := ts.spool.count(); n != want {
				t.Errorf("%d messages stored, want %d", n, want)
			}
		})
	}
}

// TestBDAT: CHUNKING is always advertised by go-smtp; the same checks
// apply to BDAT, which bypasses go-smtp's DATA size limit.
func TestBDAT(t *testing.T) {
	tests := []struct {
		name  string
		chunk string
		want  string
	}{
		{"fine", "Subject: x\r\n\r\nhi\r\n", "250 2.0.0 Ok: queued as "},
		{"bare LF", "Subject: x\r\n\r\nhi\n", "554 5.6.0"},
		{"bare CR at end", "Subject: x\r\n\r\nhi\r", "554 5.6.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			raw := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
			raw.reply()
			raw.cmd("EHLO c\r\n")
			raw.cmd("MAIL FROM:<a@example.com>\r\n")
			raw.cmd("RCPT TO:<b@example.org>\r\n")
			expect(t, raw.cmd("BDAT "+itoa(len(tt.chunk))+" LAST\r\n"+tt.chunk), tt.want)
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
