package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"time"

	"github.com/outbox-mta/outbox/config"
)

// mode is what a sendmail command line asks for: sendmail(8)'s -b modes
// and -q.
type mode int

const (
	modeDeliver mode = iota // -bm: read one message on stdin (the default)
	modeSMTP                // -bs: an SMTP session on stdin/stdout
	modeList                // -bp, or invoked as mailq: list the queue
	modeFlush               // -q: attempt every deferred message now
)

// parseMode reads a -b flag. -bd (run as a daemon) and the others are
// other programs' jobs.
func parseMode(flag string) (mode, error) {
	switch flag {
	case "-bm":
		return modeDeliver, nil
	case "-bs":
		return modeSMTP, nil
	case "-bp":
		return modeList, nil
	}
	return 0, fmt.Errorf("%s is not supported (-bm, -bs and -bp are; run the daemon with `outbox serve`)", flag)
}

// adminConfigArgs are the flags that point an admin verb at the daemon of
// configuration file path ("" for the default socket).
func adminConfigArgs(path string) []string {
	if path == "" {
		return nil
	}
	return []string{"--config", path}
}

// loadSendmailConfig loads what sendmail needs of the configuration at
// path: the files it names (DKIM keys, relay passwords) may be readable by
// the service only and are not read. A configuration file this user may
// not read at all is not an error either: sendmail falls back to the
// built-in defaults, saying so on w. Any other problem is.
func loadSendmailConfig(w io.Writer, path string) (*config.Config, error) {
	cfg, err := config.LoadClient(path)
	if errors.Is(err, fs.ErrPermission) {
		cfg = config.Default()
		addr, _, _ := sendmailAddress(cfg)
		fmt.Fprintf(w, "sendmail: note: %v; using the built-in default listener %s\n", err, addr)
		return cfg, nil
	}
	return cfg, err
}

// smtpDialTimeout bounds the connection to the daemon in -bs mode; the
// session itself is bounded by the daemon's own timeouts.
const smtpDialTimeout = 30 * time.Second

// relaySMTP is -bs: the SMTP client on stdin/stdout (PHP's Symfony Mailer,
// Laravel) talks to the daemon's listener through us, byte for byte, from
// loopback, so the daemon trusts it as it trusts sendmail itself. The
// session ends when the daemon closes the connection (after QUIT) or the
// client closes stdin. A daemon that cannot be reached gets the client a
// 421 reply (RFC 5321 §4.2.2: service not available) and exit 75.
func relaySMTP(ctx context.Context, c *cli, addr string, implicitTLS bool) int {
	d := net.Dialer{Timeout: smtpDialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		fmt.Fprintf(c.stdout, "421 4.3.2 the outbox daemon is not reachable\r\n")
		fmt.Fprintf(c.stderr, "sendmail: the outbox daemon at %s is not reachable: %v\n", addr, err)
		return exTempFail
	}
	if implicitTLS {
		// As in submitLocal: the certificate names the public host, and
		// the connection never leaves this host.
		conn = tls.Client(conn, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	go func() {
		io.Copy(conn, c.stdin)
		// The client is done: let the daemon see the end of input.
		if cw, ok := conn.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}()
	if _, err := io.Copy(c.stdout, conn); err != nil && ctx.Err() == nil {
		fmt.Fprintf(c.stderr, "sendmail: the session with the outbox daemon at %s broke: %v\n", addr, err)
		return exTempFail
	}
	return exitOK
}
