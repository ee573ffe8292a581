package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAPIConfigs is the table of [api] settings and the problems the user
// must see for each (nil when valid).
func TestAPIConfigs(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		doc  string
		want []string
	}{
		{"off", "[api]\naddress = \"\"\n", nil},
		{"loopback v6", "[api]\naddress = \"[::1]:8587\"\n", nil},
		{"keys", "[[api.keys]]\nname = \"shop\"\nhash = \"" + hash + "\"\n", nil},
		{"public without tls", "[api]\naddress = \"0.0.0.0:8587\"\n",
			[]string{`api.address: "0.0.0.0:8587" is not a loopback address (127.0.0.0/8 or ::1): API keys would cross the network in clear; set api.tls = true`}},
		{"tls without certificate", "[api]\naddress = \"0.0.0.0:8587\"\ntls = true\n",
			[]string{`api.tls: needs tls.cert_file and tls.key_file`}},
		{"bad keys", "[[api.keys]]\nname = \"\"\nhash = \"xyz\"\n[[api.keys]]\nname = \"a\"\nhash = \"" + hash + "\"\n[[api.keys]]\nname = \"a\"\nhash = \"" + hash + "\"\n", []string{
			`api.keys[0].name: must be set`,
			"api.keys[0].hash: must be the 64 hex digits printed by `outbox api-key create`",
			`api.keys[2].name: "a" is used by another key`,
		}},
		{"bad limits", "[api]\nrate = -1.0\nburst = 0\nmax_connections = 0\nread_timeout = \"0s\"\n", []string{
			`api.rate: must not be negative`, `api.burst: must be at least 1`, `api.max_connections: must be at least 1`, `api.read_timeout`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "outbox.toml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Load succeeded, want problems")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
