package main

import (
	"crypto/x509"
	"path/filepath"
	"testing"

	"github.com/outbox-mta/outbox/delivery/smtptest"
)

// delivery.extra_ca_file adds a private CA to the roots: a certificate it
// issued verifies, which it does not with the system roots alone.
func TestAddCAs(t *testing.T) {
	ca := smtptest.NewCA(t)
	path := filepath.Join(t.TempDir(), "ca.pem")
	ca.WriteCA(t, path)
	leaf := ca.Issue(t, "mx.example.test").Leaf
	opts := x509.VerifyOptions{DNSName: "mx.example.test"}
	if _, err := leaf.Verify(opts); err == nil {
		t.Fatal("the test CA is trusted without extra_ca_file")
	}
	pool, err := addCAs(nil, path)
	if err != nil {
		t.Fatal(err)
	}
	opts.Roots = pool
	if _, err := leaf.Verify(opts); err != nil {
		t.Fatalf("with extra_ca_file: %v", err)
	}
	if _, err := addCAs(nil, filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Fatal("a missing file was accepted")
	}
}
