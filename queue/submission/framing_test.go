package submission

import (
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestGoSMTPInternals fails when a go-smtp upgrade moves the fields
// gosmtp.go reaches into.
func TestGoSMTPInternals(t *testing.T) {
	ts := startServer(t, nil)
	raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
	// The EHLO reply gains our keywords (ehlo.go) before go-smtp's last
	// line, and stays one reply.
	ehlo := ehloLines(t, raw)
	want := "250-MT-PRIORITY\r\n250 FUTURERELEASE 2592000 2025-07-07T08:09:10Z\r\n"
	if !strings.HasPrefix(ehlo, "250-Hello c\r\n") || !strings.HasSuffix(ehlo, want) ||
		!strings.Contains(ehlo, "250-PIPELINING\r\n") || !strings.Contains(ehlo, "250-SIZE 4096\r\n") {
		t.Errorf("EHLO reply:\n%s", ehlo)
	}
	expect(t, raw.cmd("HELO c\r\n"), "250 2.0.0 Hello c")
	if again := ehloLines(t, raw); again != ehlo {
		t.Errorf("second EHLO reply:\n%s\nfirst:\n%s", again, ehlo)
	}
	if logs := ts.logs.String(); strings.Contains(logs, "internals") {
		t.Fatalf("hooks failed:\n%s", logs)
	}
	if err := unlimitData(strings.NewReader("x")); err == nil {
		t.Error("unlimitData accepted a reader without the field")
	}
}

// message returns a message of exactly size octets of CRLF lines, one of
// them lineLen octets long (0: none).
func message(size, lineLen int) string {
	var b strings.Builder
	b.WriteString("Subject: sized\r\n\r\n")
	if lineLen > 0 {
		b.WriteString(strings.Repeat("L", lineLen) + "\r\n")
	}
	for size-b.Len() >= 160 {
		b.WriteString(strings.Repeat("y", 78) + "\r\n")
	}
	if rest := size - b.Len(); rest >= 2 {
		b.WriteString(strings.Repeat("y", rest-2) + "\r\n")
	}
	return b.String()
}

// TestMessageOfExactlyMaxSize: SIZE is a limit up to and including.
func TestMessageOfExactlyMaxSize(t *testing.T) {
	const max = 4096
	at := message(max, 0)
	over := at[:len(at)-2] + "y\r\n"
	if len(at) != max {
		t.Fatalf("message of %d octets", len(at))
	}
	for _, tt := range []struct {
		name, msg, want string
	}{
		{"at limit", at, "250 "}, {"over", over, "552 5.3.4"},
	} {
		for _, mode := range []string{"DATA", "BDAT"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				ts := startServer(t, func(o *Options) { o.MaxMessageSize = max })
				raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
				raw.cmd("EHLO c\r\n")
				raw.cmd("MAIL FROM:<a@example.com>\r\n")
				raw.cmd("RCPT TO:<b@example.org>\r\n")
				var got string
				if mode == "DATA" {
					expect(t, raw.cmd("DATA\r\n"), "354 ")
					got = raw.cmd(tt.msg + ".\r\n")
				} else {
					got = raw.cmd("BDAT " + itoa(len(tt.msg)) + " LAST\r\n" + tt.msg)
				}
				expect(t, got, tt.want)
			})
		}
	}
}

// TestStrictDataFraming: a bare CR anywhere, also right after a leading
// dot, is refused and ends DATA where the client's CRLF.CRLF is; nothing
// after it runs as a command and no byte is silently dropped.
func TestStrictDataFraming(t *testing.T) {
	const smuggled = "MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.org>\r\nDATA\r\nSubject: forged\r\n\r\nx\r\n"
	tests := []struct {
		name, payload, want string
	}{
		{"dot CR X", "Subject: x\r\n\r\nhello\r\n.\rX\r\n", "554 5.6.0"},
		// Line-based parsers end DATA at the CRLF.CRLF right after ".\r":
		// so does the listener (go-smtp alone would read on).
		{"dot CR CR LF dot", "Subject: x\r\n\r\nhello\r\n.\r\r\n", "554 5.6.0"},
		{"dot CR then smuggled", "Subject: x\r\n\r\nhello\r\n.\rX\r\n" + smuggled, "554 5.6.0"},
		{"dot CR at start", ".\rX\r\n", "554 5.6.0"},
		{"CR in empty line", "Subject: x\r\n\r\n\rX\r\n", "554 5.6.0"},
		{"NUL in body", "Subject: x\r\n\r\n\x00.\r\nmore\r\n", "554 5.6.0 NUL"},
		{"NUL in header", "Subject: \x00x\r\n\r\nbody\r\n", "554 5.6.0 NUL"},
		{"dot stuffing kept", "Subject: x\r\n\r\n..leading\r\n", "250 "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, nil)
			raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
			raw.cmd("EHLO c\r\n")
			raw.cmd("MAIL FROM:<a@example.com>\r\n")
			raw.cmd("RCPT TO:<b@example.org>\r\n")
			expect(t, raw.cmd("DATA\r\n"), "354 ")
			expect(t, raw.cmd(tt.payload+".\r\n"), tt.want)
			expect(t, raw.cmd("RCPT TO:<c@example.org>\r\n"), "502 5.5.1")
			want := 0
			if tt.want[0] == '2' {
				want = 1
			}
			if n := ts.spool.count(); n != want {
				t.Fatalf("%d messages stored, want %d", n, want)
			}
			if want == 1 {
				if _, body := ts.spool.get(t, ts.spool.id(0)); !strings.HasSuffix(body, "\r\n.leading\r\n") {
					t.Errorf("stored %q", body)
				}
			}
		})
	}
}

// TestLongLinesOneRule: DATA and BDAT take lines of any length (up to the
// message size), whatever the segmentation: a BDAT chunk written with its
// command, a long line in its first 4 KB, or byte by byte.
func TestLongLinesOneRule(t *testing.T) {
	msg := message(20000, 5000)
	for _, mode := range []string{"DATA", "BDAT", "BDAT two chunks"} {
		for _, seg := range []string{"one write", "byte by byte"} {
			t.Run(mode+"/"+seg, func(t *testing.T) {
				ts := startServer(t, func(o *Options) { o.MaxMessageSize = 1 << 20 })
				raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
				raw.cmd("EHLO c\r\n")
				raw.cmd("MAIL FROM:<a@example.com>\r\n")
				raw.cmd("RCPT TO:<b@example.org>\r\n")
				var wire string
				switch mode {
				case "DATA":
					expect(t, raw.cmd("DATA\r\n"), "354 ")
					wire = msg + ".\r\n"
				case "BDAT":
					wire = "BDAT " + itoa(len(msg)) + " LAST\r\n" + msg
				default:
					wire = "BDAT 100\r\n" + msg[:100] + "BDAT " + itoa(len(msg)-100) + " LAST\r\n" + msg[100:]
				}
				write := func(s string) {
					if seg == "one write" {
						_, _ = io.WriteString(raw.c, s)
						return
					}
					for i := range len(s) {
						_, _ = raw.c.Write([]byte{s[i]})
					}
				}
				go write(wire)
				got := raw.reply()
				if mode == "BDAT two chunks" {
					expect(t, got, "250 2.0.0 Continue")
					got = raw.reply()
				}
				expect(t, got, "250 2.0.0 Ok: queued")
				// The long line is stored in its compliant form (conform.go):
				// quoted-printable, every line within 998 octets, the same text.
				id := got[strings.LastIndex(strings.TrimSpace(got), " ")+1:]
				_, stored := ts.spool.get(t, strings.TrimSpace(id))
				header, body, ok := strings.Cut(stored, "\r\n\r\n")
				if !ok || !strings.Contains(header, "Content-Transfer-Encoding: quoted-printable") {
					t.Fatalf("stored message is not quoted-printable:\n%.300s", stored)
				}
				for line := range strings.SplitSeq(stored, "\r\n") {
					if len(line) > 998 {
						t.Fatalf("stored line of %d octets", len(line))
					}
				}
				decoded, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(body)))
				if err != nil || string(decoded) != msg[strings.Index(msg, "\r\n\r\n")+4:] {
					t.Errorf("stored body differs from what was sent (err %v)", err)
				}
			})
		}
	}
}

func TestCommandLineLimit(t *testing.T) {
	ts := startServer(t, nil)
	raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
	raw.cmd("EHLO c\r\n")
	expect(t, raw.cmd("NOOP "+strings.Repeat("x", 1900)+"\r\n"), "250 ")
	_, _ = io.WriteString(raw.c, "NOOP "+strings.Repeat("x", 3000)+"\r\n")
	last, _ := closedWithin(t, raw)
	expect(t, last, "500 5.4.0")
}

// TestPipelinedGreetingRefused: EHLO must end a pipelined group (RFC 2920
// §3.1); the framer cannot start in the middle of one.
func TestPipelinedGreetingRefused(t *testing.T) {
	ts := startServer(t, nil)
	raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
	_, _ = io.WriteString(raw.c, "EHLO c\r\nMAIL FROM:<a@example.com>\r\n")
	expect(t, raw.reply(), "503 5.5.1")
	expect(t, raw.reply(), "502 5.5.1")
	expect(t, raw.cmd("EHLO c\r\n"), "250 ")
	expect(t, raw.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")
}

func TestSenderBinding(t *testing.T) {
	senders, err := NewSenders(map[string]SenderRule{
		"alice": {Patterns: []string{"*@Example.com", "ops@example.net"}, CheckFrom: true},
		"bob":   {Patterns: []string{"bob@example.org"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	users, err := NewUsers(map[string]string{"alice": mustHash(t, "a-pw"), "bob": mustHash(t, "b-pw"),
		"carol": mustHash(t, "c-pw")})
	if err != nil {
		t.Fatal(err)
	}
	serverTLS, clientTLS := selfSigned(t)
	ts := startServer(t, func(o *Options) { o.Auth = users; o.TLSConfig = serverTLS; o.Senders = senders })
	login := func(user, pass string) *smtp.Client {
		c := startTLSClient(t, ts.addr, "127.0.0.2", clientTLS)
		if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		user, pass, from, header, want string
	}{
		{"alice", "a-pw", "app@example.com", "app@example.com", ""},
		{"alice", "a-pw", "app@EXAMPLE.COM", "x <ops@example.net>", ""},
		{"alice", "a-pw", "app@example.org", "", "553 5.7.1"},
		{"alice", "a-pw", "app@sub.example.com", "", "553 5.7.1"},
		{"alice", "a-pw", "", "", "553 5.7.1"},
		{"alice", "a-pw", "app@example.com", "ceo@example.org", "553 5.7.1"},
		{"bob", "b-pw", "bob@example.org", "anyone@example.com", ""}, // From not checked for bob
		{"bob", "b-pw", "bobby@example.org", "", "553 5.7.1"},
		{"carol", "c-pw", "anything@example.biz", "", ""}, // no rule: any sender
	}
	for _, tt := range tests {
		c := login(tt.user, tt.pass)
		msg := "Subject: x\r\n\r\nx\r\n"
		if tt.header != "" {
			msg = "From: " + tt.header + "\r\n" + msg
		}
		_, err := send(c, tt.from, []string{"rcpt@example.org"}, msg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s as %q / From %q: %v", tt.user, tt.from, tt.header, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s as %q / From %q accepted, want %s", tt.user, tt.from, tt.header, tt.want)
		case tt.want != "":
			if c, e := code(t, err); itoa(c)+" "+e != tt.want {
				t.Errorf("%s as %q / From %q: %d %s, want %s", tt.user, tt.from, tt.header, c, e, tt.want)
			}
		}
		c.Close()
	}
	if _, err := NewSenders(map[string]SenderRule{"x": {Patterns: []string{"a*@example.com", "nodomain", "*@*.com"}}}); err == nil ||
		!strings.Contains(err.Error(), `"a*@example.com"`) || !strings.Contains(err.Error(), `"nodomain"`) || !strings.Contains(err.Error(), `"*@*.com"`) {
		t.Errorf("bad patterns: %v", err)
	}
}

// TestRefusedDataIsNotContent: when go-smtp refuses DATA, what follows is
// read as commands again.
func TestRefusedDataIsNotContent(t *testing.T) {
	ts := startServer(t, nil)
	raw, _ := dialRaw(t, ts.addr, "127.0.0.1")
	raw.cmd("EHLO c\r\n")
	_, _ = io.WriteString(raw.c, "DATA\r\nNOOP\r\n")
	expect(t, raw.reply(), "502 5.5.1")
	expect(t, raw.reply(), "250 ")
	expect(t, raw.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")
}
