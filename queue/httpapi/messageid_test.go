package httpapi

import (
	"strings"
	"testing"
)

func TestMessageIDOf(t *testing.T) {
	long := "<" + strings.Repeat("x", 300) + "@h>"
	for in, want := range map[string]string{
		"<q1@h>":                             "<q1@h>",
		" <spaced@h>\t":                      "<spaced@h>",
		"":                                   "",
		long:                                 long[:maxMessageID] + "...",
		"<" + strings.Repeat("é", 200) + ">": "<" + strings.Repeat("é", 127) + "...",
	} {
		if got := messageIDOf(in); got != want {
			t.Errorf("messageIDOf(%.40q) = %q, want %q", in, got, want)
		}
	}
}
