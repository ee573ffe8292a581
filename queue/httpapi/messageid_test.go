package httpapi

import (
	"strings"
	"testing"
)

func TestMessageIDOf(t *testing.T) {
	long := "<" + strings.Repeat("x", 300) + "@h>"
	for in, want := range map[string]string{
		"From: a@b\r\nMessage-ID: <q1@h>\r\n\r\nbody":     "<q1@h>",
		"message-id:\r\n  <folded@h>\r\nX: y\r\n\r\nbody": "<folded@h>",
		"From: a@b\r\n\r\nMessage-ID: <in-body@h>\r\n":    "",
		"Message-ID: " + long + "\r\n\r\n":                long[:maxMessageID] + "...",
	} {
		if got := messageIDOf([]byte(in)); got != want {
			t.Errorf("messageIDOf(%.40q) = %q, want %q", in, got, want)
		}
	}
}
