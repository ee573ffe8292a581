package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/outbox-mta/outbox/delivery/dkim"
)

// runDKIMKeygen is `outbox dkim keygen --domain D --selector S [--type
// ed25519|rsa] [--bits N] [--out FILE]`: it writes a new private key (mode
// 0600, never overwriting a file) and prints the TXT record to publish and
// the [[dkim.domain.key]] entry to add.
func runDKIMKeygen(ctx context.Context, c *cli, args []string) int {
	v := newVerbFlags(c, "dkim keygen")
	fs := v.fs
	domain := fs.String("domain", "", "signing `DOMAIN` (d=), required")
	selector := fs.String("selector", "", "`SELECTOR` (s=), required")
	typ := fs.String("type", dkim.TypeRSA, "key `TYPE`: rsa or ed25519 (not every receiver verifies Ed25519 yet: publish both)")
	bits := fs.Int("bits", 0, "RSA key size in `BITS` (default 2048)")
	out := fs.String("out", "", "key `FILE` to write (default DOMAIN.SELECTOR.key)")
	pos, code, ok := v.parse(args)
	if !ok {
		return code
	}
	if *domain == "" || *selector == "" || len(pos) > 0 {
		fmt.Fprintln(c.stderr, "outbox dkim keygen: --domain and --selector are required, and nothing else")
		fs.Usage()
		return exitUsage
	}
	d := strings.ToLower(strings.TrimSuffix(*domain, "."))
	path := *out
	if path == "" {
		path = d + "." + *selector + ".key"
	}
	key, err := dkim.GenerateKey(strings.ToLower(*typ), *bits)
	if err != nil {
		fmt.Fprintln(c.stderr, "outbox dkim keygen:", err)
		return exitUsage
	}
	pemKey, err := dkim.MarshalKey(key)
	if err == nil {
		err = writeNewFile(path, pemKey)
	}
	if err != nil {
		fmt.Fprintln(c.stderr, "outbox dkim keygen:", err)
		return exitError
	}
	record, err := dkim.Record(key.Public())
	if err != nil {
		fmt.Fprintln(c.stderr, "outbox dkim keygen:", err)
		return exitError
	}
	name := dkim.RecordName(*selector, d)
	fmt.Fprintf(c.stdout, "wrote %s (mode 0600)\n\n", path)
	fmt.Fprintf(c.stdout, "Publish this DNS TXT record:\n\n")
	fmt.Fprintf(c.stdout, "%s. IN TXT (\n", name)
	for _, s := range dkim.SplitTXT(record) {
		fmt.Fprintf(c.stdout, "\t%q\n", s)
	}
	fmt.Fprintf(c.stdout, ")\n\nname:  %s\nvalue: %s\n\n", name, record)
	fmt.Fprintf(c.stdout, "Then add to the configuration:\n\n[[dkim.domain]]\ndomain = %q\n[[dkim.domain.key]]\nselector = %q\nkey_file = %q\n", d, *selector, path)
	return exitOK
}

// writeNewFile creates path with mode 0600 and writes data, refusing to
// replace an existing key.
func writeNewFile(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
