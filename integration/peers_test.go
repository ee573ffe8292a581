package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/miekg/dns"
)

// The real peers of the suite: dnsmasq answering for the test domains, and
// private Postfix instances receiving mail into a maildir. Each is started
// with its own configuration and state under a directory of its own and
// stopped by t.Cleanup, whatever the test's outcome.

// dnsmasq is a running dnsmasq serving the records given to startDNSMasq.
type dnsmasq struct {
	Addr string      // ip:port, for delivery.resolver
	log  *syncBuffer // its output; with --log-queries, a line per query
}

// startDNSMasq starts dnsmasq on a free port of 127.0.0.1 as the
// authority for every name under .test: names it has no record for are
// NXDOMAIN, names with records but not of the asked type are NODATA.
// args are dnsmasq record options (--mx-host=..., --host-record=...), or
// others such as --log-queries; a --local-ttl among them replaces the
// default TTL of 0 (dnsmasq refuses the option twice).
func startDNSMasq(t *testing.T, args ...string) *dnsmasq {
	t.Helper()
	bin := needTool(t, "dnsmasq")
	port := freeUDPTCPPort(t, "127.0.0.1")
	full := append([]string{
		"--keep-in-foreground",
		"--conf-file=/dev/null", // not /etc/dnsmasq.conf
		"--listen-address=127.0.0.1",
		"--bind-interfaces",
		"--port=" + strconv.Itoa(port),
		"--no-resolv", "--no-hosts", "--no-poll",
		"--pid-file=", // none
		"--user=root",
		"--log-facility=-",
		// The whole .test zone is answered from the records below only;
		// without this an unknown name would be REFUSED (no upstream),
		// which a resolver must treat as temporary, not as NXDOMAIN.
		"--local=/test/",
	}, args...)
	if !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--local-ttl=") }) {
		full = append(full, "--local-ttl=0")
	}
	cmd := exec.Command(bin, full...)
	// Gone with the test process even when it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	log := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dnsmasq: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	d := &dnsmasq{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), log: log}
	waitFor(t, "dnsmasq to answer", 10*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("dnsmasq exited: %v\n%s", cmd.ProcessState, log)
		default:
		}
		_, err := d.query("nonexistent.test.", dns.TypeA)
		return err == nil
	})
	return d
}

// query asks the server one question and returns the answer.
func (d *dnsmasq) query(name string, qtype uint16) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, d.Addr)
	return r, err
}

// queries counts the questions for name and qtype dnsmasq has logged so
// far; it must run with --log-queries.
func (d *dnsmasq) queries(name string, qtype uint16) int {
	return strings.Count(d.log.String(), fmt.Sprintf(" query[%s] %s from ", dns.TypeToString[qtype], name))
}

// freeUDPTCPPort returns a port free for both UDP and TCP on ip.
func freeUDPTCPPort(t *testing.T, ip string) int {
	t.Helper()
	for range 20 {
		port := freePort(t, ip)
		u, err := net.ListenPacket("udp", net.JoinHostPort(ip, strconv.Itoa(port)))
		if err == nil {
			u.Close()
			return port
		}
	}
	t.Fatal("no port free for both UDP and TCP")
	return 0
}

// postfixOptions describe one private Postfix instance.
type postfixOptions struct {
	Name     string   // instance name, in log messages and its directory
	IP       string   // listens on IP:25 only
	Hostname string   // myhostname, in its greeting and Received header
	Domains  []string // virtual_mailbox_domains: all delivered to one maildir
	// Access is the check_recipient_access table (texthash): address →
	// action, e.g. "550 5.1.1 User unknown" or "450 4.2.1 Try later".
	Access map[string]string
	// CertFile and KeyFile enable STARTTLS (smtpd_tls_security_level =
	// may); empty means Postfix offers no STARTTLS.
	CertFile, KeyFile string
	// MainCF is added at the end of main.cf: the instance's departures
	// from the defaults ("smtpd_recipient_limit = 50").
	MainCF string
}

// postfix is a private Postfix instance: its own config_directory,
// queue_directory, data_directory, maillog and maildir under base.
type postfix struct {
	opts postfixOptions
	base string
	conf string
}

// startPostfix writes the instance's configuration and starts it with
// `postfix -c DIR start`; t.Cleanup stops it (abort and kill if need be)
// and removes its directory.
func startPostfix(t *testing.T, opts postfixOptions) *postfix {
	t.Helper()
	needTool(t, "postfix")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the Postfix peers need root (Postfix's master runs as root)")
		}
		t.Skip("the Postfix peers need root")
	}
	// Not t.TempDir: Postfix's unprivileged daemons must be able to walk
	// down to the queue, and t.TempDir's parents are mode 0700.
	base, err := os.MkdirTemp("", "outbox-postfix-"+opts.Name+"-")
	if err != nil {
		t.Fatal(err)
	}
	p := &postfix{opts: opts, base: base, conf: filepath.Join(base, "conf")}
	t.Cleanup(func() {
		p.stopQuietly()
		if t.Failed() {
			if b, err := os.ReadFile(p.maillog()); err == nil {
				t.Logf("%s maillog (last 40 lines):\n%s", opts.Name, lastLines(string(b), 40))
			}
		}
		// OUTBOX_KEEP_PEERS=1 keeps config, maillog and maildir to look at.
		if os.Getenv("OUTBOX_KEEP_PEERS") == "" {
			os.RemoveAll(base)
		}
	})
	p.writeConfig(t)
	p.start(t)
	return p
}

func (p *postfix) maillog() string { return filepath.Join(p.base, "log", "maillog") }
func (p *postfix) pidFile() string { return filepath.Join(p.base, "queue", "pid", "master.pid") }

// Addr is where the instance listens.
func (p *postfix) Addr() string { return net.JoinHostPort(p.opts.IP, "25") }

func (p *postfix) writeConfig(t *testing.T) {
	t.Helper()
	uid, gid := mailOwner(t)
	for _, d := range []string{"conf", "queue", "data", "log", "mail"} {
		if err := os.MkdirAll(filepath.Join(p.base, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(p.base, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"data", "log", "mail"} {
		// data and log belong to the postfix user; mail to the owner the
		// virtual agent delivers as.
		if err := os.Chown(filepath.Join(p.base, d), uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p.writeAccess(t, p.opts.Access)
	tlsConf := "smtpd_tls_security_level = none\n"
	if p.opts.CertFile != "" {
		tlsConf = fmt.Sprintf("smtpd_tls_security_level = may\nsmtpd_tls_cert_file = %s\nsmtpd_tls_key_file = %s\nsmtpd_tls_loglevel = 1\nsmtpd_tls_received_header = yes\n",
			p.opts.CertFile, p.opts.KeyFile)
	}
	b := p.base
	mainCF := fmt.Sprintf(`# Written by the outbox integration suite. Postfix defaults, except:
compatibility_level = 3.6
# where this instance lives,
queue_directory = %[1]s/queue
data_directory = %[1]s/data
maillog_file = %[1]s/log/maillog
maillog_file_prefixes = %[1]s/log
# its name and address (loopback only, no DNS, nothing sent out),
myhostname = %[2]s
mydomain = %[2]s
myorigin = $myhostname
mydestination =
# Postfix accepts only interface addresses in inet_interfaces, and
# 127.0.0.2 and .3 are not (127.0.0.0/8 is routed to lo without them
# being assigned): master.cf binds smtpd to %[3]s:25 itself.
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
default_transport = error:this test MTA sends nothing out
relay_transport = error:this test MTA sends nothing out
alias_maps =
alias_database =
local_recipient_maps =
biff = no
# every test domain into one maildir, as the postfix user,
virtual_mailbox_domains = %[4]s
virtual_mailbox_base = %[1]s/mail
virtual_mailbox_maps = static:maildir/
virtual_uid_maps = static:%[5]d
virtual_gid_maps = static:%[6]d
# 550 and 450 for chosen recipients (texthash: no postmap needed; edit
# the file and reload),
smtpd_recipient_restrictions = check_recipient_access texthash:%[1]s/conf/access
# and STARTTLS or not.
%[7]s
# The scenario's own settings.
%[8]s
`, b, p.opts.Hostname, p.opts.IP, strings.Join(p.opts.Domains, ", "), uid, gid, tlsConf, p.opts.MainCF)
	writeFile(t, filepath.Join(p.conf, "main.cf"), mainCF)
	// Upstream's services with chroot off, smtpd only on IP:25.
	masterCF := fmt.Sprintf(`%s:25 inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`, p.opts.IP)
	writeFile(t, filepath.Join(p.conf, "master.cf"), masterCF)
}

// writeAccess replaces the check_recipient_access table; Postfix reads it
// at the next reload.
func (p *postfix) writeAccess(t *testing.T, access map[string]string) {
	var b strings.Builder
	keys := make([]string, 0, len(access))
	for k := range access {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %s\n", k, access[k])
	}
	writeFile(t, filepath.Join(p.conf, "access"), b.String())
}

// setAccess changes the recipient table and reloads the instance.
func (p *postfix) setAccess(t *testing.T, access map[string]string) {
	t.Helper()
	p.writeAccess(t, access)
	p.postfixCmd(t, "reload")
}

// waitAccepts waits until the instance answers 250 to RCPT TO:<rcpt>
// (a reload takes effect as Postfix replaces its smtpd processes).
func (p *postfix) waitAccepts(t *testing.T, rcpt string) {
	t.Helper()
	waitFor(t, p.opts.Name+" accepting "+rcpt, 20*time.Second, func() bool {
		c, err := smtp.Dial(p.Addr())
		if err != nil {
			return false
		}
		defer c.Close()
		if c.Hello("probe.test") != nil || c.Mail("probe@sender.test", nil) != nil {
			return false
		}
		ok := c.Rcpt(rcpt, nil) == nil
		c.Quit()
		return ok
	})
}

// start starts the instance and waits until it accepts connections.
func (p *postfix) start(t *testing.T) {
	t.Helper()
	// A listener already there is another run's instance, or one a
	// killed run left behind: starting would fail less clearly.
	if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		c.Close()
		t.Fatalf("%s: something already listens on %s (a Postfix left by a killed test run? see /tmp/outbox-postfix-*)", p.opts.Name, p.Addr())
	}
	p.postfixCmd(t, "start")
	waitFor(t, p.opts.Name+" listening on "+p.Addr(), 20*time.Second, func() bool {
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}

// stop stops the instance and waits until its master has exited and
// nothing answers on its address.
func (p *postfix) stop(t *testing.T) {
	t.Helper()
	if err := p.stopQuietly(); err != nil {
		t.Fatal(err)
	}
}

// stopQuietly is stop for cleanups: `postfix stop`, then `postfix abort`
// and SIGKILL of the master if it lingers.
func (p *postfix) stopQuietly() error {
	pid := p.masterPID()
	if pid == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	exec.CommandContext(ctx, "postfix", "-c", p.conf, "stop").Run()
	if p.waitGone(pid, 10*time.Second) {
		return nil
	}
	exec.CommandContext(ctx, "postfix", "-c", p.conf, "abort").Run()
	if p.waitGone(pid, 5*time.Second) {
		return nil
	}
	syscall9(pid)
	if p.waitGone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("postfix %s: master %d still running", p.opts.Name, pid)
}

// masterPID is the pid of the instance's running master, or 0.
func (p *postfix) masterPID() int {
	b, err := os.ReadFile(p.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || !processIs(pid, "master") {
		return 0
	}
	return pid
}

// waitGone polls until pid is no longer a running master and the address
// refuses connections (the smtpd children hold the listener too).
func (p *postfix) waitGone(pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if !processIs(pid, "master") {
			c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
			if err != nil {
				return true
			}
			c.Close()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// postfixCmd runs `postfix -c CONF verb`, failing the test with its output
// and the instance's maillog when it fails.
func (p *postfix) postfixCmd(t *testing.T, verb string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "postfix", "-c", p.conf, verb).CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(p.maillog())
		t.Fatalf("postfix -c %s %s: %v\n%s\nmaillog:\n%s", p.conf, verb, err, out, lastLines(string(log), 30))
	}
}

// mailOwner is the uid and gid the virtual agent delivers as: the postfix
// user's (any non-root owner would do; the test reads as root).
func mailOwner(t *testing.T) (uid, gid int) {
	t.Helper()
	u, err := user.Lookup("postfix")
	if err != nil {
		t.Fatalf("the postfix user: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return uid, gid
}

// processIs reports whether pid is alive (not a zombie) with command
// name comm.
func processIs(pid int, comm string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// "pid (comm) state ...": comm may hold spaces, so split at the last ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || len(s) < end+3 {
		return false
	}
	return s[open+1:end] == comm && s[end+2] != 'Z'
}

// syscall9 kills pid (a Postfix master this test started) with SIGKILL.
func syscall9(pid int) { syscall.Kill(pid, syscall.SIGKILL) }

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mailMsg is one message in a Postfix maildir.
type mailMsg struct {
	Raw    []byte   // as stored: LF line ends
	Fields []string // header fields in order, each with its folded lines, LF
	Body   []byte
}

// header returns the unfolded values of every field named name.
func (m mailMsg) header(name string) []string {
	var vs []string
	for _, f := range m.Fields {
		n, v, _ := strings.Cut(f, ":")
		if strings.EqualFold(n, name) {
			vs = append(vs, strings.TrimSpace(strings.ReplaceAll(v, "\n", "")))
		}
	}
	return vs
}

// messages returns every message delivered to the instance, optionally only
// those whose Delivered-To is rcpt.
func (p *postfix) messages(t *testing.T, rcpt string) []mailMsg {
	t.Helper()
	var out []mailMsg
	for _, sub := range []string{"new", "cur"} {
		dir := filepath.Join(p.base, "mail", "maildir", sub)
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue // not created before the first delivery
		}
		for _, e := range ents {
			raw, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			m := parseMail(raw)
			if rcpt == "" || slices.Contains(m.header("Delivered-To"), rcpt) {
				out = append(out, m)
			}
		}
	}
	return out
}

// parseMail splits a message into its header fields and body.
func parseMail(raw []byte) mailMsg {
	raw = bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n"))
	m := mailMsg{Raw: raw}
	head, body, _ := bytes.Cut(raw, []byte("\n\n"))
	m.Body = body
	for _, line := range strings.Split(string(head), "\n") {
		if len(m.Fields) > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			m.Fields[len(m.Fields)-1] += "\n" + line
			continue
		}
		m.Fields = append(m.Fields, line)
	}
	return m
}
