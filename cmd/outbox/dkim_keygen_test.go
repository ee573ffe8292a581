package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestDKIMKeygen(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		code int
		want []string // in stdout, or stderr when code != 0
	}{
		{"ed25519", []string{"--domain", "Example.com.", "--selector", "ed1", "--type", "ed25519", "--out", filepath.Join(dir, "ed1.key")}, exitOK,
			[]string{"ed1._domainkey.example.com. IN TXT (", `"v=DKIM1; k=ed25519; p=`, "selector = \"ed1\""}},
		{"rsa split in 255-byte strings", []string{"--domain", "example.com", "--selector", "rsa1", "--out", filepath.Join(dir, "rsa1.key")}, exitOK,
			[]string{"rsa1._domainkey.example.com. IN TXT (", `"v=DKIM1; k=rsa; p=MIIB`}},
		{"never overwrites", []string{"--domain", "example.com", "--selector", "ed1", "--type", "ed25519", "--out", filepath.Join(dir, "ed1.key")}, exitError,
			[]string{"file exists"}},
		{"small rsa", []string{"--domain", "example.com", "--selector", "x", "--bits", "1024", "--out", filepath.Join(dir, "x.key")}, exitUsage,
			[]string{"use 2048 to 8192 bits"}},
		{"no selector", []string{"--domain", "example.com"}, exitUsage, []string{"--domain and --selector are required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runVerbIO(t, runDKIMKeygen, nil, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errOut)
			}
			text := out
			if code != exitOK {
				text = errOut
			}
			for _, w := range tt.want {
				if !strings.Contains(text, w) {
					t.Errorf("output lacks %q:\n%s", w, text)
				}
			}
			if code != exitOK {
				return
			}
			for _, q := range regexp.MustCompile(`(?m)^\t"(.*)"$`).FindAllStringSubmatch(out, -1) {
				if len(q[1]) > 255 {
					t.Errorf("TXT string of %d bytes", len(q[1]))
				}
			}
			fi, err := os.Stat(tt.args[len(tt.args)-1])
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v, mode %v; want 0600", err, fi.Mode())
			}
		})
	}
}
