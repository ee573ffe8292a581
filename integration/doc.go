// Package integration holds end-to-end tests that run the real outbox binary
// against real clients and peers (swaks, Python's smtplib, Postfix's
// smtp-source; private Postfix instances on 127.0.0.2:25 and 127.0.0.3:25 and
// dnsmasq as MX hosts and DNS, see peers_test.go; in-process SMTP and DNS
// servers on loopback addresses).
//
// The tests build the binary once (TestMain), start it with a private spool
// and configuration in a temporary directory, and drive it only through its
// public surfaces: SMTP, the CLI and signals. A peer that is missing makes a
// test skip with a message outside CI; under CI=true it is a failure, because
// .ci/run installs every peer.
//
// imports_test.go is the one test here that starts no binary: it holds every
// package of the module to the import rules its package comment declares
// ("Never imports: ..."), read with `go list -json`. It lives here because
// it is about the whole module, as the tests beside it are.
package integration
