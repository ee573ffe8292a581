package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

func TestParseSendmailArgs(t *testing.T) {
	tests := []struct {
		args []string
		want sendmailOpts
		err  string
	}{
		{args: []string{"a@x"}, want: sendmailOpts{rcpts: []string{"a@x"}}},
		{args: []string{"-t", "-i", "-f", "me@x", "-F", "Me Myself"},
			want: sendmailOpts{fromHeader: true, ignoreDots: true, from: "me@x", fullName: "Me Myself"}},
		{args: []string{"-fme@x", "-FMe", "-oi", "b@y", "-C", "/etc/o.toml"},
			want: sendmailOpts{from: "me@x", fullName: "Me", ignoreDots: true, rcpts: []string{"b@y"}, config: "/etc/o.toml"}},
		{args: []string{"-odi", "-oem", "-v", "-B", "8BITMIME", "-bm", "a@x"},
			want: sendmailOpts{ignored: []string{"-odi", "-oem", "-v", "-B 8BITMIME"}, rcpts: []string{"a@x"}}},
		{args: []string{"-r", "me@x", "--", "-odd@x"}, want: sendmailOpts{from: "me@x", rcpts: []string{"-odd@x"}}},
		{args: []string{"-f"}, err: "-f needs a value"},
		{args: []string{"-bp"}, want: sendmailOpts{mode: modeList}},
		{args: []string{"-bs", "-C", "/etc/o.toml"}, want: sendmailOpts{mode: modeSMTP, config: "/etc/o.toml"}},
		{args: []string{"-q"}, want: sendmailOpts{mode: modeFlush}},
		{args: []string{"-q30m"}, want: sendmailOpts{ignored: []string{"-q30m"}}},
		{args: []string{"-bd"}, err: "not supported"},
		{args: []string{"-Z"}, err: "unknown flag -Z"},
	}
	for _, tt := range tests {
		got, err := parseSendmailArgs(tt.args)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%v: error %v, want %q", tt.args, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%v:\n got %+v, %v\nwant %+v", tt.args, got, err, tt.want)
		}
	}
}

func TestReadMessageDots(t *testing.T) {
	in := "Subject: x\n\nline\n.\nafter\n"
	got, err := readMessage(strings.NewReader(in), false, 0)
	if err != nil || string(got) != "Subject: x\r\n\r\nline\r\n" {
		t.Errorf("without -i: %q, %v", got, err)
	}
	got, err = readMessage(strings.NewReader(in), true, 0)
	if err != nil || string(got) != "Subject: x\r\n\r\nline\r\n.\r\nafter\r\n" {
		t.Errorf("with -i: %q, %v", got, err)
	}
	if _, err := readMessage(strings.NewReader(strings.Repeat("x\n", 100)), true, 50); err == nil {
		t.Error("oversized message read without error")
	}
}

func TestPrepareMessage(t *testing.T) {
	msg := "To: A <a@x.example>, b@x.example\r\nCc: c@y.example\r\nBcc: hidden@z.example,\r\n  hidden2@z.example\r\nSubject: s\r\n\r\nBcc: not a header\r\n"
	tests := []struct {
		name      string
		o         sendmailOpts
		rcpts     []string
		keepBcc   bool
		wantFrom  string
		noHeaders bool
	}{
		{name: "-t", o: sendmailOpts{fromHeader: true, from: "me@h"},
			rcpts: []string{"a@x.example", "b@x.example", "c@y.example", "hidden@z.example", "hidden2@z.example"}, wantFrom: "From: <me@h>\r\n"},
		{name: "-t plus arguments", o: sendmailOpts{fromHeader: true, from: "me@h", fullName: "Me", rcpts: []string{"extra@w.example", "B@x.example"}},
			rcpts: []string{"extra@w.example", "B@x.example", "a@x.example", "c@y.example", "hidden@z.example", "hidden2@z.example"}, wantFrom: `From: "Me" <me@h>` + "\r\n"},
		{name: "arguments only", o: sendmailOpts{from: "me@h", rcpts: []string{"only@w.example"}},
			rcpts: []string{"only@w.example"}, keepBcc: true, wantFrom: "From: <me@h>\r\n"},
	}
	for _, tt := range tests {
		rcpts, out, err := prepareMessage([]byte(msg), tt.o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if !reflect.DeepEqual(rcpts, tt.rcpts) {
			t.Errorf("%s: recipients %v, want %v", tt.name, rcpts, tt.rcpts)
		}
		head, body, _ := strings.Cut(string(out), "\r\n\r\n")
		if strings.Contains(head, "Bcc:") != tt.keepBcc || strings.Contains(head, "hidden2") != tt.keepBcc {
			t.Errorf("%s: Bcc kept=%t in\n%s", tt.name, !tt.keepBcc, head)
		}
		if !strings.HasPrefix(head, tt.wantFrom) {
			t.Errorf("%s: header does not start with %q:\n%s", tt.name, tt.wantFrom, head)
		}
		if body != "Bcc: not a header\r\n" {
			t.Errorf("%s: body changed: %q", tt.name, body)
		}
	}
	// A From field present is kept as is.
	_, out, _ := prepareMessage([]byte("From: x@y\r\n\r\nb\r\n"), sendmailOpts{from: "me@h", rcpts: []string{"a@b"}})
	if string(out) != "From: x@y\r\n\r\nb\r\n" {
		t.Errorf("message with From changed: %q", out)
	}
}

// sendmailConfig writes a config whose submission listener is addr.
func sendmailConfig(t *testing.T, addr string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "outbox.toml")
	cfg := fmt.Sprintf("hostname = \"host.test\"\n[spool]\ndir = %q\n[[listen.submission]]\naddress = %q\n", filepath.Join(dir, "spool"), addr)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runSendmailWith(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runSendmail(context.Background(), &cli{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb}, args)
	return code, errb.String()
}

func TestSendmailSubmits(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Rcpt: func(to string) error {
		if to == "refused@x.example" {
			return smtptest.Reply(550, "5.1.1", "no such user")
		}
		return nil
	}})
	cfg := sendmailConfig(t, srv.Addr)
	t.Setenv("USER", "cron")
	code, errOut := runSendmailWith(t, "Subject: hi\n\nhello\n", "-C", cfg, "-oem", "a@x.example")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "ignoring -oem") {
		t.Errorf("no note about the ignored flag: %q", errOut)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || msgs[0].From != "cron@host.test" || !reflect.DeepEqual(msgs[0].Rcpts, []string{"a@x.example"}) {
		t.Fatalf("server got %+v", msgs)
	}
	if !bytes.Contains(msgs[0].Data, []byte("From: <cron@host.test>\r\nSubject: hi\r\n\r\nhello\r\n")) {
		t.Errorf("data %q", msgs[0].Data)
	}

	code, errOut = runSendmailWith(t, "Subject: hi\n\nhello\n", "-C", cfg, "refused@x.example")
	if code != exUnavailable || !strings.Contains(errOut, "550") {
		t.Errorf("5xx: exit %d, stderr %q; want %d and the reply", code, errOut, exUnavailable)
	}
	code, errOut = runSendmailWith(t, "Subject: hi\n\n", "-C", cfg)
	if code != exUsage || !strings.Contains(errOut, "no recipients") {
		t.Errorf("no recipients: exit %d, stderr %q", code, errOut)
	}
}

func TestSendmailDaemonDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	code, errOut := runSendmailWith(t, "Subject: hi\n\nhello\n", "-C", sendmailConfig(t, addr), "a@x.example")
	if code != exTempFail || !strings.Contains(errOut, "did not take the message") {
		t.Errorf("daemon down: exit %d, stderr %q; want %d", code, errOut, exTempFail)
	}
}

func TestDispatchAsSendmail(t *testing.T) {
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb},
		[]string{"/usr/sbin/sendmail", "-bd"})
	if code != exUsage || !strings.Contains(errb.String(), "sendmail: -bd is not supported") {
		t.Errorf("argv[0] sendmail: exit %d, stderr %q", code, errb.String())
	}
}
