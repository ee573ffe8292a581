package mxresolve

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultServer(t *testing.T) {
	tests := []struct {
		name, conf, want string
	}{
		{"first of several", "search example.com\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n", "192.0.2.53:53"},
		{"IPv6", "nameserver 2001:db8::53\n", "[2001:db8::53]:53"},
		{"none: loopback", "search example.com\n", "127.0.0.1:53"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "resolv.conf")
			if err := os.WriteFile(path, []byte(tt.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := defaultServer(path)
			if err != nil || got != tt.want {
				t.Errorf("defaultServer = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if _, err := defaultServer(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("defaultServer of a missing file: no error")
	}
}
