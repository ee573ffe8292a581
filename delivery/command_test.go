package delivery

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// goSMTPLines runs go-smtp's client against a scripted server that offers
// exts and returns the MAIL and RCPT lines it wrote (or its error text).
func goSMTPLines(t *testing.T, exts []string, from string, mo *smtp.MailOptions, to string, ro *smtp.RcptOptions) (mail, rcpt string) {
	t.Helper()
	cc, sc := net.Pipe()
	defer cc.Close()
	lines := make(chan string, 4)
	go func() {
		defer sc.Close()
		r := bufio.NewReader(sc)
		sc.Write([]byte("220 mx.test\r\n")) //nolint:errcheck // the test fails on the client side
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			l = strings.TrimRight(l, "\r\n")
			reply := "250 ok\r\n"
			if strings.HasPrefix(l, "EHLO") {
				reply = "250-mx.test\r\n"
				for _, e := range exts {
					reply += "250-" + e + "\r\n"
				}
				reply += "250 HELP\r\n"
			} else {
				lines <- l
			}
			sc.Write([]byte(reply)) //nolint:errcheck // as above
		}
	}()
	c := smtp.NewClient(cc)
	c.CommandTimeout = 5 * time.Second
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Mail(from, mo); err != nil {
		mail = "error: " + err.Error()
	} else {
		mail = <-lines
	}
	if err := c.Rcpt(to, ro); err != nil {
		rcpt = "error: " + err.Error()
	} else {
		rcpt = <-lines
	}
	return mail, rcpt
}

// extSet is an extensions answering from a list of EHLO keywords.
type extSet []string

func (e extSet) Extension(name string) (bool, string) {
	for _, x := range e {
		if k, v, _ := strings.Cut(x, " "); strings.EqualFold(k, name) {
			return true, v
		}
	}
	return false, ""
}

// TestCommandsMatchGoSMTP: the MAIL and RCPT lines written for pipelining
// are the ones go-smtp's client writes for the same options and the same
// offered extensions, so that the options mailOptions and rcptOptions set
// keep their meaning (and a change of go-smtp's shows here).
func TestCommandsMatchGoSMTP(t *testing.T) {
	prio := 3
	auth := "sender+x@example.test"
	all := []string{"8BITMIME", "SIZE 1000000", "DSN", "SMTPUTF8", "REQUIRETLS", "AUTH PLAIN", "RRVS", "DELIVERBY", "MT-PRIORITY"}
	cases := []struct {
		name string
		exts []string
		from string
		mo   *smtp.MailOptions
		to   string
		ro   *smtp.RcptOptions
	}{
		{name: "plain", from: "a@example.test", to: "b@example.test"},
		{name: "null sender", exts: all, from: "", to: "b@example.test"},
		{name: "everything offered", exts: all, from: "a@example.test",
			mo: &smtp.MailOptions{Size: 4321, UTF8: true, RequireTLS: true, Return: smtp.DSNReturnHeaders, EnvelopeID: "id+1=x y", Auth: &auth},
			to: "b@example.test",
			ro: &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifySuccess, smtp.DSNNotifyFailure},
				OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "orig+x=y@example.test",
				RequireRecipientValidSince: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
				DeliverBy:                  &smtp.DeliverByOptions{Time: 90 * time.Second, Mode: smtp.DeliverByNotify, Trace: true},
				MTPriority:                 &prio}},
		{name: "nothing offered", from: "a@example.test",
			mo: &smtp.MailOptions{Size: 4321, Return: smtp.DSNReturnFull, EnvelopeID: "id1"},
			to: "b@example.test",
			ro: &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyNever}, OriginalRecipientType: smtp.DSNAddressTypeRFC822, OriginalRecipient: "o@example.test", MTPriority: &prio}},
		{name: "utf-8 ORCPT with SMTPUTF8", exts: []string{"DSN", "SMTPUTF8"}, from: "a@example.test", to: "b@example.test",
			ro: &smtp.RcptOptions{OriginalRecipientType: smtp.DSNAddressTypeUTF8, OriginalRecipient: "jörg x+y@example.test"}},
		{name: "utf-8 ORCPT without SMTPUTF8", exts: []string{"DSN"}, from: "a@example.test", to: "b@example.test",
			ro: &smtp.RcptOptions{OriginalRecipientType: smtp.DSNAddressTypeUTF8, OriginalRecipient: "jörg x+y@example.test"}},
		{name: "SMTPUTF8 not offered", exts: []string{"DSN"}, from: "jörg@example.test", mo: &smtp.MailOptions{UTF8: true}, to: "b@example.test"},
		{name: "REQUIRETLS not offered", from: "a@example.test", mo: &smtp.MailOptions{RequireTLS: true}, to: "b@example.test"},
		{name: "bad NOTIFY", exts: []string{"DSN"}, from: "a@example.test", to: "b@example.test",
			ro: &smtp.RcptOptions{Notify: []smtp.DSNNotify{smtp.DSNNotifyNever, smtp.DSNNotifySuccess}}},
		{name: "bad ENVID", exts: []string{"DSN"}, from: "a@example.test", mo: &smtp.MailOptions{EnvelopeID: "é"}, to: "b@example.test"},
		{name: "bad MT-PRIORITY", exts: []string{"MT-PRIORITY"}, from: "a@example.test", to: "b@example.test", ro: &smtp.RcptOptions{MTPriority: func() *int { p := 12; return &p }()}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wantMail, wantRcpt := goSMTPLines(t, tc.exts, tc.from, tc.mo, tc.to, tc.ro)
			got, err := mailCommand(extSet(tc.exts), tc.from, tc.mo)
			if err != nil {
				got = "error: " + err.Error()
			}
			if got != wantMail {
				t.Errorf("MAIL\n got %q\nwant %q (go-smtp)", got, wantMail)
			}
			got, err = rcptCommand(extSet(tc.exts), tc.to, tc.ro)
			if err != nil {
				got = "error: " + err.Error()
			}
			if got != wantRcpt {
				t.Errorf("RCPT\n got %q\nwant %q (go-smtp)", got, wantRcpt)
			}
		})
	}
}

// TestReplyParsing: replies as RFC 5321 §4.2 writes them, and the ones
// that leave the session in an unknown state.
func TestReplyParsing(t *testing.T) {
	cases := []struct {
		in   string
		want Reply
		err  bool
	}{
		{in: "250 2.1.0 Ok\r\n", want: Reply{Code: 250, Enhanced: "2.1.0", Text: "Ok"}},
		{in: "250\r\n", want: Reply{Code: 250}},
		{in: "550-5.1.1 no such user\r\n550-5.1.1 see https://x.test\r\n550 5.1.1 really\r\n",
			want: Reply{Code: 550, Enhanced: "5.1.1", Text: "no such user / see https://x.test / really"}},
		{in: "452 4.5.3 Too many recipients\n", want: Reply{Code: 452, Enhanced: "4.5.3", Text: "Too many recipients"}},
		{in: "421 closing\r\n", want: Reply{Code: 421, Text: "closing"}},
		{in: "550 bad\rline\x00\tend\r\n", want: Reply{Code: 550, Text: "bad line \tend"}},
		{in: "25O ok\r\n", err: true},
		{in: "100 what\r\n", err: true},
		{in: "250-a\r\n251 b\r\n", err: true},
		{in: "250_ok\r\n", err: true},
		{in: "250-unfinished\r\n", err: true},
		{in: "250 " + strings.Repeat("x", 5000) + "\r\n", err: true},
		{in: strings.Repeat("250-x\r\n", maxReplyLines+1) + "250 x\r\n", err: true},
	}
	for _, tc := range cases {
		cc, sc := net.Pipe()
		go func() {
			sc.Write([]byte(tc.in)) //nolint:errcheck // a short write shows as a parse error
			sc.Close()
		}()
		got, err := newWire(cc).reply()
		cc.Close()
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%.40q: got %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

// TestDotWriter: the message goes out as net/textproto's DotWriter writes
// it, however it is cut into writes; except where that one is wrong: CR CR
// LF keeps its CRLF (textproto takes the second CR for data and adds a CR
// of its own), and an empty message is the final dot alone (textproto
// adds an empty line).
func TestDotWriter(t *testing.T) {
	inputs := []struct{ in, want string }{
		{in: "a"}, {in: "."}, {in: "\n"}, {in: "\r"}, {in: "\r\n"}, {in: ".\r\n"}, {in: "..\r\n"},
		{in: "a\nb\n"}, {in: "a\r\n.b\r\n.\r\n"}, {in: "line\rbare cr\r\n.dot\n\n.\n"}, {in: "no final newline"},
		{in: "ends in cr\r"}, {in: ".\r"}, {in: testBody},
		{in: strings.Repeat("x", 5000) + "\r\n." + strings.Repeat("y", 3000)},
		{in: "\r\r\n.\r\n", want: "\r\r\n..\r\n.\r\n"},
		{in: "", want: ".\r\n"},
	}
	for _, tc := range inputs {
		want := tc.want
		if want == "" {
			var b strings.Builder
			tw := textproto.NewWriter(bufio.NewWriter(&b)).DotWriter()
			tw.Write([]byte(tc.in)) //nolint:errcheck // a strings.Builder
			tw.Close()
			want = b.String()
		}
		for _, cut := range []int{1, 2, 3, 7, 4096, 1 << 20} {
			var got strings.Builder
			gw := newWireWriter(&got).data()
			for s := tc.in; s != ""; {
				k := min(cut, len(s))
				if n, err := gw.Write([]byte(s[:k])); err != nil || n != k {
					t.Fatalf("Write = %d, %v", n, err)
				}
				s = s[k:]
			}
			if err := gw.Close(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want {
				t.Errorf("%.30q in writes of %d:\n got %q\nwant %q", tc.in, cut, got.String(), want)
			}
		}
	}
}

// newWireWriter is a wire that writes to w.
func newWireWriter(w io.Writer) *wire { return &wire{w: bufio.NewWriterSize(w, wireBufSize)} }

// FuzzReply: whatever a server sends, reading a reply never panics, and a
// reply read has a code of 200 to 599 and no control character but HT in
// its text.
func FuzzReply(f *testing.F) {
	for _, s := range []string{"250 2.1.0 Ok\r\n", "550-5.1.1 a\r\n550 5.1.1 b\r\n", "250\r\n", "25", "421-x\n421 y\n",
		"354 go\r\n", "250-" + strings.Repeat("x", 600) + "\r\n250 y\r\n", "\r\n", "999 x\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		w := &wire{r: bufio.NewReaderSize(bytes.NewReader(in), 4096), w: bufio.NewWriter(io.Discard)}
		for range 3 {
			r, err := w.reply()
			if err != nil {
				return
			}
			if r.Code < 200 || r.Code > 599 || strings.IndexFunc(r.Text, func(c rune) bool { return (c < ' ' && c != '\t') || c == 0x7f }) >= 0 {
				t.Fatalf("reply %+v from %q", r, in)
			}
		}
	})
}

// TestEnhancedPrefix: the scanner finds what the regular expression
// ^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$) finds, on every case below.
func TestEnhancedPrefix(t *testing.T) {
	re := regexp.MustCompile(`^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)`)
	for _, in := range []string{
		"2.1.0 Ok", "2.1.0", "5.1.1  \t spaced", "4.7.500 text", "4.7.28\r\nx", "5.7.1\fx",
		"2.0.0Ok", "3.1.0 no", "6.0.0 no", "2.1 short", "2..1 x", "2.1. x", "2.1234.0 x", "2.1.1234 x",
		"2.10.100 x", "", "2", "2.", "2.1.", "x2.1.0", "2.1.0.1 x", "250 2.1.0", "5.5.5\n", "5.5.5 ",
	} {
		code, n, ok := enhancedPrefix(in)
		m := re.FindStringSubmatch(in)
		switch {
		case (m != nil) != ok:
			t.Errorf("%q: ok=%v, regexp matched %v", in, ok, m != nil)
		case ok && (code != m[1] || n != len(m[0])):
			t.Errorf("%q: got %q %d, want %q %d", in, code, n, m[1], len(m[0]))
		}
	}
}
