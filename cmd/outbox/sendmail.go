package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/outbox-mta/outbox/config"
)

// Exit statuses of `outbox sendmail`, from sysexits.h as sendmail(8)
// reports them: programs that call sendmail (cron, PHP, git) only test for
// non-zero, and an operator reads the line on stderr.
const (
	exUsage       = 64 // EX_USAGE: bad flags, no recipients
	exDataErr     = 65 // EX_DATAERR: the message cannot be read or parsed
	exUnavailable = 69 // EX_UNAVAILABLE: the daemon refused for good (5xx)
	exTempFail    = 75 // EX_TEMPFAIL: daemon not reachable, or 4xx: try again
)

// sendmailTimeout bounds the whole submission to the local daemon.
const sendmailTimeout = 5 * time.Minute

// sendmailOpts is a parsed sendmail command line.
type sendmailOpts struct {
	config     string   // -C FILE / --config FILE / $OUTBOX_CONFIG
	from       string   // -f: envelope sender
	fullName   string   // -F: the sender's full name, for a From: we add
	fromHeader bool     // -t: recipients from To, Cc, Bcc
	ignoreDots bool     // -i / -oi: a lone "." does not end the message
	mode       mode     // -bm (default), -bs, -bp, -q
	rcpts      []string // arguments
	ignored    []string // legacy flags accepted and ignored
}

// parseSendmailArgs reads sendmail(8)'s command line. Flags and recipients
// may mix; a flag's value may be attached (-fme@x) or the next argument
// (-f me@x); "--" ends the flags.
func parseSendmailArgs(args []string) (sendmailOpts, error) {
	var o sendmailOpts
	value := func(i *int, flag, attached string) (string, error) {
		if attached != "" {
			return attached, nil
		}
		if *i+1 >= len(args) {
			return "", fmt.Errorf("%s needs a value", flag)
		}
		*i++
		return args[*i], nil
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.rcpts = append(o.rcpts, args[i+1:]...)
			break
		}
		if a == "--config" {
			v, err := value(&i, a, "")
			if err != nil {
				return o, err
			}
			o.config = v
			continue
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			o.rcpts = append(o.rcpts, a)
			continue
		}
		var err error
		switch flag, rest := a[:2], a[2:]; flag {
		case "-t":
			o.fromHeader = true
		case "-i":
			o.ignoreDots = true
		case "-f", "-r": // -r is the old name of -f
			o.from, err = value(&i, flag, rest)
		case "-F":
			o.fullName, err = value(&i, flag, rest)
		case "-C":
			o.config, err = value(&i, flag, rest)
		case "-o":
			if rest == "i" {
				o.ignoreDots = true
				break
			}
			// -oem, -odi, -odb, -oQ/var/spool...: delivery modes and
			// options of the real sendmail's queue, which Outbox is.
			o.ignored = append(o.ignored, a)
		case "-b":
			o.mode, err = parseMode(a)
		case "-q":
			if rest != "" {
				// -q30m: sendmail's own queue runner, every 30
				// minutes; the outbox daemon schedules its queue.
				o.ignored = append(o.ignored, a)
				break
			}
			o.mode = modeFlush
		case "-B", "-N", "-R", "-V", "-X", "-L", "-h", "-p":
			// Value-taking options of sendmail's own (body type, DSN
			// notify, return, envid, log file, ...): accepted, ignored.
			if rest == "" && i+1 < len(args) {
				a += " " + args[i+1]
				i++
			}
			o.ignored = append(o.ignored, a)
		case "-v", "-m", "-n", "-U", "-G", "-A", "-e", "-d":
			o.ignored = append(o.ignored, a)
		default:
			return o, fmt.Errorf("unknown flag %s", a)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// runSendmail is `outbox sendmail [flags] [rcpt...]`, also run when the
// binary is invoked as sendmail (a /usr/sbin/sendmail symlink). It reads a
// message on stdin and submits it to the local daemon over SMTP, from
// loopback (trusted: no AUTH), on the first submission listener of the
// configuration. It never drops mail silently: if the daemon does not
// accept the message it says why on stderr and exits non-zero.
//
// Recipients: the arguments; with -t also every address of the To, Cc and
// Bcc fields, added to the arguments (Postfix's behaviour), duplicates
// removed; the Bcc field is removed from the message. The envelope sender
// is -f, else $USER@hostname. A message without a From field gets one: the
// envelope sender, with -F's full name.
//
// Other modes (sendmail_modes.go): -bs speaks SMTP on stdin/stdout, -bp
// lists the queue (as `mailq`), -q flushes it.
func runSendmail(ctx context.Context, c *cli, args []string) int {
	fail := func(code int, format string, v ...any) int {
		fmt.Fprintf(c.stderr, "sendmail: "+format+"\n", v...)
		return code
	}
	o, err := parseSendmailArgs(args)
	if err != nil {
		cmd, _ := lookupVerb("sendmail")
		return fail(exUsage, "%v\nusage: sendmail %s", err, cmd.args)
	}
	for _, f := range o.ignored {
		fmt.Fprintf(c.stderr, "sendmail: ignoring %s (not needed by outbox)\n", f)
	}
	if o.config == "" {
		o.config = os.Getenv("OUTBOX_CONFIG")
	}
	switch o.mode {
	case modeList:
		return runQueueList(ctx, c, adminConfigArgs(o.config))
	case modeFlush:
		return runQueueFlush(ctx, c, append(adminConfigArgs(o.config), "--all"))
	}
	cfg, err := loadSendmailConfig(c.stderr, o.config)
	var addr string
	var implicitTLS bool
	if err == nil {
		addr, implicitTLS, err = sendmailAddress(cfg)
	}
	if err != nil {
		if o.mode == modeSMTP {
			// The SMTP client on stdout waits for a greeting.
			fmt.Fprint(c.stdout, "421 4.3.0 sendmail cannot find the outbox daemon\r\n")
		}
		return fail(exTempFail, "%v", err)
	}
	if o.mode == modeSMTP {
		return relaySMTP(ctx, c, addr, implicitTLS)
	}
	if o.from == "" {
		o.from = defaultSender(cfg.Hostname)
	}
	if o.from == "<>" {
		o.from = ""
	}

	msg, err := readMessage(c.stdin, o.ignoreDots, cfg.Limits.MaxMessageSize.Bytes)
	if err != nil {
		return fail(exDataErr, "reading the message: %v", err)
	}
	rcpts, msg, err := prepareMessage(msg, o)
	if err != nil {
		return fail(exDataErr, "%v", err)
	}
	if len(rcpts) == 0 {
		return fail(exUsage, "no recipients (give them as arguments, or use -t with To/Cc/Bcc fields)")
	}

	ctx, cancel := context.WithTimeout(ctx, sendmailTimeout)
	defer cancel()
	if err := submitLocal(ctx, addr, implicitTLS, o.from, rcpts, msg); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code >= 500 {
			return fail(exUnavailable, "the outbox daemon at %s refused the message: %v", addr, err)
		}
		return fail(exTempFail, "the outbox daemon at %s did not take the message: %v", addr, err)
	}
	return exitOK
}

// sendmailAddress is where to submit: the first "starttls" (plain)
// submission listener, else the first implicit-TLS one, with a wildcard
// host replaced by loopback so the daemon trusts us.
func sendmailAddress(cfg *config.Config) (addr string, implicitTLS bool, err error) {
	var pick *config.Listener
	for i := range cfg.Listen.Submission {
		l := &cfg.Listen.Submission[i]
		if l.Mode == config.ModeStartTLS {
			pick = l
			break
		}
		if pick == nil {
			pick = l
		}
	}
	if pick == nil {
		return "", false, errors.New("the configuration has no submission listener")
	}
	host, port, err := net.SplitHostPort(pick.Address)
	if err != nil {
		return "", false, fmt.Errorf("listen.submission address %q: %w", pick.Address, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return net.JoinHostPort(host, port), pick.Mode == config.ModeTLS, nil
}

// defaultSender is $USER@hostname (the login name of the caller).
func defaultSender(hostname string) string {
	name := os.Getenv("USER")
	if name == "" {
		name = os.Getenv("LOGNAME")
	}
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		name = "nobody"
	}
	return name + "@" + hostname
}

// readMessage reads the message from r, one line at a time, up to a line
// holding a lone "." unless ignoreDots (sendmail's -i), or the end of
// input. Lines end in CRLF in the result.
func readMessage(r io.Reader, ignoreDots bool, max int64) ([]byte, error) {
	br := bufio.NewReader(r)
	var b bytes.Buffer
	for {
		line, err := br.ReadString('\n')
		if len(line) > 0 {
			line = strings.TrimRight(line, "\r\n")
			if !ignoreDots && line == "." {
				break
			}
			b.WriteString(line)
			b.WriteString("\r\n")
			if max > 0 && int64(b.Len()) > max {
				return nil, fmt.Errorf("the message is larger than limits.max_message_size (%d bytes)", max)
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Bytes(), nil
}

// prepareMessage computes the recipients and the message to submit: with
// -t, the To/Cc/Bcc addresses are added to the arguments and the Bcc
// fields removed; a From field is added when missing.
func prepareMessage(msg []byte, o sendmailOpts) (rcpts []string, out []byte, err error) {
	header, body := msg, []byte(nil)
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		header, body = msg[:i+2], msg[i+2:]
	} else if bytes.HasPrefix(msg, []byte("\r\n")) {
		header, body = nil, msg
	}
	fields := splitFields(header)
	seen := map[string]bool{}
	add := func(a string) {
		if k := strings.ToLower(a); !seen[k] {
			seen[k] = true
			rcpts = append(rcpts, a)
		}
	}
	for _, r := range o.rcpts {
		addrs, err := mail.ParseAddressList(r)
		if err != nil {
			return nil, nil, fmt.Errorf("recipient %q: %v", r, err)
		}
		for _, a := range addrs {
			add(a.Address)
		}
	}
	var kept bytes.Buffer
	hasFrom := false
	for _, f := range fields {
		name := strings.ToLower(strings.TrimSpace(f.name))
		if name == "from" {
			hasFrom = true
		}
		if o.fromHeader && (name == "to" || name == "cc" || name == "bcc") {
			v := strings.TrimSpace(f.value())
			if v != "" {
				addrs, err := mail.ParseAddressList(v)
				if err != nil {
					return nil, nil, fmt.Errorf("%s field: %v", f.name, err)
				}
				for _, a := range addrs {
					add(a.Address)
				}
			}
		}
		if o.fromHeader && name == "bcc" {
			continue // blind: it must not reach the other recipients
		}
		kept.Write(f.raw)
	}
	var b bytes.Buffer
	if !hasFrom && o.from != "" {
		b.WriteString("From: " + (&mail.Address{Name: o.fullName, Address: o.from}).String() + "\r\n")
	}
	b.Write(kept.Bytes())
	b.Write(body)
	return rcpts, b.Bytes(), nil
}

// field is one header field with its continuation lines, as read.
type field struct {
	name string
	raw  []byte // "Name: value\r\n continued\r\n"
}

func (f field) value() string {
	_, v, _ := strings.Cut(string(f.raw), ":")
	return strings.NewReplacer("\r\n", "", "\n", "").Replace(v)
}

// splitFields cuts a header block into fields, keeping each one's bytes.
func splitFields(header []byte) []field {
	var out []field
	for len(header) > 0 {
		var line []byte
		if end := bytes.Index(header, []byte("\r\n")); end >= 0 {
			line, header = header[:end+2], header[end+2:]
		} else {
			line, header = header, nil
		}
		if (line[0] == ' ' || line[0] == '\t') && len(out) > 0 {
			out[len(out)-1].raw = append(out[len(out)-1].raw, line...)
			continue
		}
		name, _, _ := strings.Cut(string(line), ":")
		out = append(out, field{name: name, raw: append([]byte(nil), line...)})
	}
	return out
}

// submitLocal is one SMTP transaction with the local daemon.
func submitLocal(ctx context.Context, addr string, implicitTLS bool, from string, rcpts []string, msg []byte) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if implicitTLS {
		// The daemon's certificate names its public host, not loopback;
		// the connection never leaves this host.
		conn = tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("localhost"); err != nil {
		return err
	}
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r, nil); err != nil {
			return fmt.Errorf("RCPT TO:<%s>: %w", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}
