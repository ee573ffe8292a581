package config

import (
	"strings"
	"testing"
)

func TestWarningsHostname(t *testing.T) {
	tests := []struct {
		host string
		warn bool
	}{
		{"mail.example.com", false},
		{"mail.example.com.", false},
		{"vm", true},
		{"localhost", true},
		{"localhost.localdomain", true},
		{"box.local", true},
	}
	for _, tt := range tests {
		c := Default()
		c.Hostname = tt.host
		ws := c.Warnings()
		if got := len(ws) > 0; got != tt.warn {
			t.Errorf("hostname %q: warnings %v, want a warning: %t", tt.host, ws, tt.warn)
			continue
		}
		if tt.warn && (ws[0].Key != "hostname" || !strings.Contains(ws[0].Msg, "not a fully qualified domain name")) {
			t.Errorf("hostname %q: warning %v", tt.host, ws[0])
		}
	}
}
