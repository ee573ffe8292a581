package integration

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A DNSSEC-signed test zone and a validating resolver for it, all on
// loopback:
//
//   - the zone is written from the test's records, signed with a fresh
//     ECDSA P-256 KSK and ZSK by ldns-keygen and ldns-signzone (NSEC), and
//     optionally tampered with after signing;
//   - one unbound serves it as an authority (auth-zone, for-downstream:
//     a real authoritative implementation with NSEC denial of existence,
//     where dnsmasq cannot serve signed data);
//   - a second unbound resolves and validates it, with the KSK's DS as the
//     zone's trust anchor and the authority as a stub. Every other name is
//     forwarded to a closed loopback port: no root hints, no query leaves
//     the machine.
//
// Both unbound instances run with their own configuration (unbound -d -c),
// as the invoking user, without chroot or pid file, and die with the test.

// signedDNS is a running authority and validating resolver for one zone.
type signedDNS struct {
	Zone     string // "dane.test."
	Addr     string // the validating resolver, ip:port
	AuthAddr string // the authority, ip:port (answers with RRSIGs, never sets AD)
	dir      string
}

// signedZoneOptions describe the zone to sign and serve.
type signedZoneOptions struct {
	Zone    string   // zone apex, e.g. "dane.test"
	Records []string // master-file lines, owner names relative to the zone or absolute
	// Tamper, when set, rewrites the signed zone file before it is served:
	// the test's forged answer, whose RRSIG no longer verifies.
	Tamper func(signed string) string
}

// startSignedDNS signs opts.Zone and starts its authority and validating
// resolver, waiting until the resolver answers the zone's SOA with AD set.
func startSignedDNS(t *testing.T, opts signedZoneOptions) *signedDNS {
	t.Helper()
	unbound := needTool(t, "unbound")
	needTool(t, "ldns-keygen")
	needTool(t, "ldns-signzone")
	zone := dns.Fqdn(opts.Zone)
	dir := t.TempDir()
	s := &signedDNS{Zone: zone, dir: dir}
	signed, ds := signZone(t, dir, zone, opts)

	authPort := freeUDPTCPPort(t, "127.0.0.1")
	s.AuthAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(authPort))
	writeFile(t, filepath.Join(dir, "auth.conf"), unboundServer(dir, s.AuthAddr, "iterator")+fmt.Sprintf(`
auth-zone:
  name: %q
  zonefile: %q
  for-downstream: yes
  for-upstream: no
  fallback-enabled: no
`, zone, signed))
	startUnbound(t, unbound, filepath.Join(dir, "auth.conf"), "authority")

	valPort := freeUDPTCPPort(t, "127.0.0.1")
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(valPort))
	// A closed port for everything outside the zone: nothing goes out.
	sink := net.JoinHostPort("127.0.0.1", strconv.Itoa(freeUDPTCPPort(t, "127.0.0.1")))
	writeFile(t, filepath.Join(dir, "val.conf"), unboundServer(dir, s.Addr, "validator iterator")+fmt.Sprintf(`
  trust-anchor-file: %q
  do-not-query-localhost: no
  harden-dnssec-stripped: yes
  val-log-level: 2
stub-zone:
  name: %q
  stub-addr: %s
forward-zone:
  name: "."
  forward-addr: %s
`, ds, zone, unboundAddr(s.AuthAddr), unboundAddr(sink)))
	startUnbound(t, unbound, filepath.Join(dir, "val.conf"), "validator")

	waitFor(t, "the validating resolver to answer "+zone+" SOA with AD", 15*time.Second, func() bool {
		r, err := dnssecQuery(s.Addr, zone, dns.TypeSOA)
		return err == nil && r.Rcode == dns.RcodeSuccess && r.AuthenticatedData
	})
	return s
}

// signZone writes the zone file, makes a KSK and a ZSK and signs it,
// returning the signed file and the KSK's DS file (the trust anchor).
func signZone(t *testing.T, dir, zone string, opts signedZoneOptions) (signed, ds string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL 60\n", zone)
	fmt.Fprintf(&b, "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 60\n@ IN NS ns.%s\nns IN A 127.0.0.1\n", zone, zone, zone)
	for _, r := range opts.Records {
		b.WriteString(r + "\n")
	}
	zoneFile := filepath.Join(dir, "zone")
	writeFile(t, zoneFile, b.String())
	ksk := runIn(t, dir, "ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone)
	zsk := runIn(t, dir, "ldns-keygen", "-a", "ECDSAP256SHA256", zone)
	signed = filepath.Join(dir, "zone.signed")
	// Plain NSEC (no -n): denial of existence the simple way.
	runIn(t, dir, "ldns-signzone", "-f", signed, zoneFile, ksk, zsk)
	if opts.Tamper != nil {
		text, err := os.ReadFile(signed)
		if err != nil {
			t.Fatal(err)
		}
		forged := opts.Tamper(string(text))
		if forged == string(text) {
			t.Fatal("signedZoneOptions.Tamper changed nothing in the signed zone")
		}
		writeFile(t, signed, forged)
	}
	return signed, filepath.Join(dir, ksk+".ds")
}

// unboundServer is the server: clause shared by both instances.
func unboundServer(dir, addr, modules string) string {
	return fmt.Sprintf(`server:
  interface: %s
  do-daemonize: no
  username: ""
  chroot: ""
  directory: %q
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 1
  num-threads: 1
  so-reuseport: no
  access-control: 127.0.0.0/8 allow
  # .test is a locally served empty zone by default (RFC 6761).
  local-zone: "test." nodefault
  module-config: %q
`, unboundAddr(addr), dir, modules)
}

// unboundAddr writes ip:port as unbound wants it: ip@port.
func unboundAddr(addr string) string {
	h, p, _ := net.SplitHostPort(addr)
	return h + "@" + p
}

// startUnbound runs one unbound instance in the foreground until the test
// ends.
func startUnbound(t *testing.T, bin, conf, name string) {
	t.Helper()
	cmd := exec.Command(bin, "-d", "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting unbound (%s): %v", name, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("unbound %s log:\n%s", name, lastLines(log.String(), 30))
		}
	})
	select {
	case <-exited:
		t.Fatalf("unbound %s exited at once: %v\n%s", name, cmd.ProcessState, log)
	default:
	}
}

// runIn runs a program in dir and returns its first output line.
func runIn(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errorsAs(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr)
	}
	first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return first
}

// dnssecQuery asks server one question with the AD bit set (RFC 6840
// §5.7: the resolver then says whether it validated the answer).
func dnssecQuery(server, name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	c := &dns.Client{Timeout: 2 * time.Second}
	r, _, err := c.Exchange(m, server)
	return r, err
}
