// Command outbox is the Outbox daemon and its admin CLI.
//
// Every verb lives in a file of its own (serve.go, queue_list.go, ...); this
// file holds the verb table, the one place each verb's usage is written, and
// dispatches. verb.go parses every verb's flags the same way. Exit status: 0 ok, 1 error, 2 usage; serve exits 75
// when the spool failed (see exitSpoolFailed) and 65 on a damaged spool
// (exitDamaged).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
)

// Exit statuses shared by every verb.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
	// exitSpoolFailed: serve stopped because a spool commit failed in a
	// way that leaves the file's state unknown (store.ErrFailed: an I/O
	// error, or a meta page written but not synced). The daemon must not
	// go on from its page cache; a restart reopens the file and bbolt
	// recovers from what is on disk, so systemd's Restart=on-failure is
	// the recovery. 75 is EX_TEMPFAIL (sysexits.h): retry later.
	exitSpoolFailed = 75
	// exitDamaged: serve stopped because the spool file is damaged
	// (store.ErrDamaged). The unit's RestartPreventExitStatus= names it:
	// restarting cannot help, the operator must check and salvage the
	// spool. 65 is sysexits' EX_DATAERR.
	exitDamaged = 65
)

// cli carries the process environment a verb may use, so tests can run
// verbs in-process with their own streams.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one verb of the CLI. A verb with sub-verbs ("queue list") is
// named with a space. Its row in commands is the only place its usage is
// written: the overview (`outbox help`), its -h and its usage errors all
// print it.
type command struct {
	name    string
	args    string   // the arguments, for the usage line ("ID [--json]")
	admin   bool     // it calls the running daemon: takes --config or --socket
	summary string   // what it does, one line
	aliases []string // other names it answers to
	run     func(ctx context.Context, c *cli, args []string) int
}

// commands is the verb table.
func commands() []command {
	return []command{
		{name: "serve", args: "[--config FILE]", summary: "run the daemon", run: runServe},
		{name: "config check", args: "[--config FILE] [--as USER]", summary: "validate the configuration and exit", run: runConfigCheck},
		{name: "passwd", args: "[--cost N] [--user NAME] < password", summary: "read a password and print its bcrypt hash for [[users]]", run: runPasswd},
		{name: "api-key create", args: "--name NAME", summary: "make an HTTP API key: print its secret once and its [[api.keys]] entry", run: runAPIKeyCreate},
		{name: "queue list", args: "[--state S] [--domain D] [--sender A] [--recipient A] [--older-than DUR] [--newer-than DUR] [--limit N] [--after ID] [--done] [--json]", admin: true, summary: "list queued messages", run: runQueueList},
		{name: "queue show", args: "ID [--json]", admin: true, summary: "show a message: envelope, headers, per-recipient history", run: runQueueShow},
		{name: "queue explain", args: "ID [--json]", admin: true, summary: "say why each pending recipient of a message waits, and until when", run: runQueueExplain},
		{name: "queue cat", args: "ID [--headers | --body]", admin: true, summary: "print a stored message as it is sent (postcat -q)", run: runQueueCat},
		{name: "queue flush", args: "ID... | - | --all [FILTERS] [--dry-run]", admin: true, summary: "attempt delivery now", run: runQueueFlush},
		{name: "queue requeue", args: "ID... | - | --all [FILTERS] [--dry-run]", admin: true, summary: "attempt delivery now by the current routes, dropping back-offs (postsuper -r)", run: runQueueRequeue},
		{name: "queue hold", args: "ID... | - | --all [FILTERS] [--dry-run]", admin: true, summary: "stop delivery attempts for messages", run: runQueueHold},
		{name: "queue release", args: "ID... | - | --all [FILTERS] [--dry-run]", admin: true, summary: "resume delivery of held messages", run: runQueueRelease},
		{name: "queue delete", args: "ID... | - | --all [FILTERS] [--dry-run] [--yes]", admin: true, summary: "delete messages from the queue (a filtered selection asks, or needs --yes)", run: runQueueDelete},
		{name: "queue stats", args: "[--ages] [--json]", admin: true, summary: "count messages by state and destination; oldest message age", run: runQueueStats},
		{name: "queue bounces", args: "[--since T] [--json]", admin: true, summary: "show the bounce log", aliases: []string{"bounces"}, run: runBounces},
		{name: "suppressions list", args: "[--json]", admin: true, summary: "show the suppression list: addresses not attempted, and why", run: runSuppressionsList},
		{name: "suppressions add", args: "ADDRESS [--note TEXT] [--expires T]", admin: true, summary: "suppress an address by hand (until --expires, or removed)", run: runSuppressionsAdd},
		{name: "suppressions remove", args: "ADDRESS...", admin: true, summary: "take addresses off the suppression list", run: runSuppressionsRemove},
		{name: "events", args: "[--after SEQ] [--follow] [--json]", admin: true, summary: "show the event log (accepted, delivered, deferred, bounced, ...) from a sequence number on; --follow waits for new ones", run: runEvents},
		{name: "tls list", args: "[--json]", admin: true, summary: "show the TLS downgrade memory: the best TLS each destination domain has shown", run: runTLSList},
		{name: "tls reset", args: "DOMAIN [--json]", admin: true, summary: "forget a domain's TLS level, accepting less TLS from it again", run: runTLSReset},
		{name: "webhooks status", args: "[--json]", admin: true, summary: "show each webhook endpoint: cursor, failed or retrying, next attempt, last error", run: runWebhooksStatus},
		{name: "webhooks redeliver", args: "[ENDPOINT]", admin: true, summary: "resume a webhook endpoint (every failed one without ENDPOINT) from its cursor now", aliases: []string{"events redeliver"}, run: runWebhooksRedeliver},
		{name: "sendmail", args: "[-t] [-i] [-f FROM] [-F NAME] [-C CONFIG] [RCPT...] | -bs | -bp | -q", summary: "submit a message read on stdin; -bs: SMTP on stdin/stdout; -bp: list the queue (also as argv[0] sendmail, mailq)", run: runSendmail},
		{name: "spool check", args: "[--spool DIR | --config FILE]", summary: "check the stopped daemon's spool offline: exit 0 clean, 1 damaged", run: runSpoolCheck},
		{name: "spool migrate", args: "--from bbolt DIR --to postgres URL", summary: "copy a stopped daemon's bbolt spool into PostgreSQL (spool.backend = \"postgres\")", run: runSpoolMigrate},
		{name: "spool salvage", args: "--from DIR --to NEWDIR", summary: "copy every readable message of a damaged spool into a new one", run: runSpoolSalvage},
		{name: "dkim keygen", args: "--domain D --selector S [--type rsa|ed25519] [--bits N] [--out FILE]", summary: "make a DKIM key, print its DNS record", run: runDKIMKeygen},
		{name: "dkim check", args: "--domain D --selector S [--config FILE] [--resolver IP:PORT]", summary: "check the published DKIM record", run: runDKIMCheck},
		{name: "probe", args: "HOST[:PORT] | --domain DOMAIN [--resolver IP:PORT] [--port N] [--tls | --no-tls] [--insecure] [--ca-file FILE] [--dnssec] [--name NAME] [--helo NAME] [--auth-user USER [--auth-password-file FILE]] [--from A --to A...] [--timeout DUR] [--mta-sts-port N] [--json]", summary: "diagnose a destination: greeting, EHLO, STARTTLS, certificate chain and its verification, AUTH, a test message", run: runProbe},
		{name: "version", summary: "print the version, VCS commit and Go version", aliases: []string{"--version"}, run: runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args)
	stop()
	os.Exit(code)
}

// dispatch finds the verb named by args (longest match first, aliases
// included) and runs it. "help", -h and --help print the verb table; the
// first word of a group of verbs alone ("queue") lists the group's verbs, as
// a usage error, or with -h as help.
func dispatch(ctx context.Context, c *cli, args []string) int {
	// Installed as /usr/sbin/sendmail (a symlink), the binary is sendmail;
	// as /usr/bin/mailq, sendmail's queue list.
	switch filepath.Base(args[0]) {
	case "sendmail":
		return runSendmail(ctx, c, args[1:])
	case "mailq": // sendmail -bp
		return runSendmail(ctx, c, append([]string{"-bp"}, args[1:]...))
	}
	rest := args[1:]
	if code, ok := writeReference(c, rest); ok {
		return code
	}
	if len(rest) > 0 && isHelp(rest[0]) {
		writeUsage(c.stdout, "")
		return exitOK
	}
	if cmd, n := matchVerb(rest); n > 0 {
		return cmd.run(ctx, c, rest[n:])
	}
	if len(rest) > 0 && isGroup(rest[0]) {
		if len(rest) == 2 && isHelp(rest[1]) {
			writeUsage(c.stdout, rest[0])
			return exitOK
		}
		if len(rest) > 1 {
			fmt.Fprintf(c.stderr, "outbox: unknown command %q\n\n", strings.Join(rest, " "))
		}
		writeUsage(c.stderr, rest[0])
		return exitUsage
	}
	if len(rest) > 0 {
		fmt.Fprintf(c.stderr, "outbox: unknown command %q\n\n", strings.Join(rest, " "))
	}
	writeUsage(c.stderr, "")
	return exitUsage
}

// matchVerb returns the verb whose name or alias is the longest prefix of
// args, and how many words of args it took (0: none).
func matchVerb(args []string) (command, int) {
	var best command
	n := 0
	for _, cmd := range commands() {
		for _, name := range append([]string{cmd.name}, cmd.aliases...) {
			words := strings.Fields(name)
			if len(words) > len(args) || len(words) <= n {
				continue
			}
			if strings.Join(args[:len(words)], " ") == name {
				best, n = cmd, len(words)
			}
		}
	}
	return best, n
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help"
}

// isGroup reports whether word is the first word of verbs with sub-verbs
// ("queue", "spool", "dkim", "config").
func isGroup(word string) bool {
	for _, cmd := range commands() {
		if strings.HasPrefix(cmd.name, word+" ") {
			return true
		}
	}
	return false
}
