package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/mxresolve/dnstest"
)

func TestDKIMCheck(t *testing.T) {
	dir := t.TempDir()
	code, out, errOut := runVerbIO(t, runDKIMKeygen, nil, "--domain", "example.com", "--selector", "s1",
		"--type", "ed25519", "--out", filepath.Join(dir, "s1.key"))
	if code != exitOK {
		t.Fatal(out, errOut)
	}
	value := regexp.MustCompile(`(?m)^value: (.+)$`).FindStringSubmatch(out)[1]
	cfg := filepath.Join(dir, "outbox.toml")
	doc := fmt.Sprintf("[[dkim.domain]]\ndomain = \"example.com\"\n[[dkim.domain.key]]\nselector = \"s1\"\nkey_file = %q\n"+
		"[[dkim.domain.key]]\nselector = \"s2\"\nkey_file = %q\n", filepath.Join(dir, "s1.key"), filepath.Join(dir, "s1.key"))
	os.WriteFile(cfg, []byte(doc), 0o600)
	s := &dnstest.Server{Zone: dnstest.Zone(t,
		fmt.Sprintf("s1._domainkey.example.com. TXT %q", value),
		"s2._domainkey.example.com. TXT \"v=DKIM1; k=ed25519; p=\"",
	)}
	s.Start(t)
	tests := []struct {
		selector string
		code     int
		want     string
	}{
		{"s1", exitOK, "s1._domainkey.example.com: OK"},
		{"s2", exitError, "MISMATCH: key revoked"},
		{"s3", exitError, "no key for domain example.com selector s3"},
	}
	for _, tt := range tests {
		code, out, errOut := runVerbIO(t, runDKIMCheck, nil, "--domain", "example.com", "--selector", tt.selector,
			"--config", cfg, "--resolver", s.Addr())
		if code != tt.code || !strings.Contains(out+errOut, tt.want) {
			t.Errorf("%s: exit %d, output %s%s; want %d and %q", tt.selector, code, out, errOut, tt.code, tt.want)
		}
	}
	// A key that is configured but not published.
	s.Set("s1._domainkey.example.com", dnstest.NXDomain)
	if code, out, _ := runVerbIO(t, runDKIMCheck, nil, "--domain", "example.com", "--selector", "s1",
		"--config", cfg, "--resolver", s.Addr()); code != exitError || !strings.Contains(out, "no key record published") || !strings.Contains(out, "publish: v=DKIM1") {
		t.Errorf("missing record: exit %d\n%s", code, out)
	}
}
