package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

// examplePath is the commented sample at the repository root.
const examplePath = "../outbox.example.toml"

// TestExampleIsDefault keeps the sample from drifting: every value it sets
// is the default, so loading it must give exactly Default().
func TestExampleIsDefault(t *testing.T) {
	c, err := Load(examplePath)
	if err != nil {
		t.Fatalf("Load(%s): %v", examplePath, err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Errorf("Load(%s) differs from Default():\n got %+v\nwant %+v", examplePath, c, Default())
	}
}

// commentedSetting matches the sample's commented-out settings: a # followed
// directly by a key or table header (prose has "# ").
var commentedSetting = regexp.MustCompile(`(?m)^#([^\s#].*)$`)

// uncommentedExample returns the sample with every commented-out setting
// enabled.
func uncommentedExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	return commentedSetting.ReplaceAllString(string(b), "$1")
}

// TestExampleUncommented enables every example setting of the sample: it
// must load, with only the files it names missing.
func TestExampleUncommented(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.toml")
	if err := os.WriteFile(path, []byte(uncommentedExample(t)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	var verr *ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("Load(uncommented sample) = %v, want only missing-file problems", err)
	}
	fileKeys := []string{"tls.cert_file", "tls.key_file", "delivery.ca_file", "delivery.extra_ca_file", "password_file", "client_cert", "client_key", "ca_file",
		"dkim.domain[0].key[0].key_file", "dkim.domain[0].key[1].key_file"}
	var seen []string
	for _, p := range verr.Problems {
		last := p.Key[strings.LastIndex(p.Key, ".")+1:]
		if !strings.HasPrefix(p.Msg, "no such file: ") || !slices.ContainsFunc(fileKeys, func(k string) bool { return strings.HasSuffix(p.Key, k) }) {
			t.Errorf("unexpected problem in the uncommented sample: %v", p)
		}
		seen = append(seen, last)
	}
	if len(seen) != len(fileKeys) {
		t.Errorf("missing-file problems for %v, want one for each of %v", seen, fileKeys)
	}
}

// TestExampleDocumentsEveryKey checks that every key Config accepts appears
// in the sample (set or commented out), and that the sample names no key
// Config lacks.
func TestExampleDocumentsEveryKey(t *testing.T) {
	var doc map[string]any
	if _, err := toml.Decode(uncommentedExample(t), &doc); err != nil {
		t.Fatalf("uncommented sample: %v", err)
	}
	documented := map[string]bool{}
	flattenTOML("", doc, documented)

	accepted := map[string]bool{}
	for _, k := range knownKeys() {
		accepted[k] = true
	}

	// Keys shown in prose only, because enabling them would conflict with
	// another example (password with password_file).
	for _, k := range []string{"relay.*.server.password", "webhooks.secret_file"} {
		last := k[strings.LastIndex(k, ".")+1:]
		raw, _ := os.ReadFile(examplePath)
		if strings.Contains(string(raw), "# "+last+" = ") || strings.Contains(string(raw), " "+last+" = \"") {
			documented[k] = true
		}
	}
	for k := range accepted {
		if !documented[k] {
			t.Errorf("key %s is not in %s", k, examplePath)
		}
	}
	for k := range documented {
		if !accepted[k] {
			t.Errorf("%s has key %s, which Config does not accept", examplePath, k)
		}
	}
}

// freeformTables have keys chosen by the user (domains, relay names).
var freeformTables = map[string]bool{"routes": true, "delivery.tls_policies": true, "relay": true}

func flattenTOML(prefix string, v any, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if freeformTables[prefix] && prefix != "relay" {
			out[prefix] = true
			return
		}
		for k, sub := range v {
			key := joinKey(prefix, k)
			if prefix == "relay" {
				key = "relay.*"
			}
			flattenTOML(key, sub, out)
		}
	case []map[string]any:
		for _, sub := range v {
			flattenTOML(prefix, sub, out)
		}
	default:
		out[prefix] = true
	}
}

func joinKey(prefix, k string) string {
	if prefix == "" {
		return k
	}
	return prefix + "." + k
}
