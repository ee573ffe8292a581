package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestQueueCat(t *testing.T) {
	q := adminFixture(t)
	head := "Subject: hello\r\nFrom: alice@example.com\r\n"
	tests := []struct {
		args     []string
		wantCode int
		wantOut  string
		wantErr  string
	}{
		{[]string{"m1"}, exitOK, head + "\r\nbody of m1\r\n", ""},
		{[]string{"m1", "--headers"}, exitOK, head, ""},
		{[]string{"m1", "--body"}, exitOK, "body of m1\r\n", ""},
		{[]string{"nope"}, exitError, "", "no such message: nope\n"},
		{[]string{"m1", "--headers", "--body"}, exitUsage, "", "at most one of --headers and --body"},
		{nil, exitUsage, "", "want exactly one message ID"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			code, out, errOut := adminRunOn(t, q, runQueueCat, tt.args...)
			if code != tt.wantCode || out != tt.wantOut || !strings.Contains(errOut, tt.wantErr) {
				t.Errorf("exit %d, stdout %q, stderr %q; want %d, %q, %q", code, out, errOut, tt.wantCode, tt.wantOut, tt.wantErr)
			}
		})
	}
}

func TestCopyPartLongLines(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 4088) + "\r\n" // 4096 bytes fill the buffer; the rest is "\r\n"
	msg := long + "Subject: s\n\nbody\n\nmore\n"
	for _, tt := range []struct {
		part int
		want string
	}{
		{partHeaders, long + "Subject: s\n"},
		{partBody, "body\n\nmore\n"},
		{partAll, msg},
	} {
		var b bytes.Buffer
		if err := copyPart(&b, strings.NewReader(msg), tt.part); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("part %d: got %d bytes %.40q..., want %d bytes", tt.part, b.Len(), b.String(), len(tt.want))
		}
	}
}
