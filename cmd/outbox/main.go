// Command outbox is the Outbox daemon and its admin CLI.
//
// Every verb lives in a file of its own (serve.go, queue_list.go, ...); this
// file only dispatches. Exit status: 0 ok, 1 error, 2 usage; serve exits 75
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
// named with a space.
type command struct {
	name  string
	usage string // one line: arguments and what it does
	run   func(ctx context.Context, c *cli, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "[--config FILE]  run the daemon", runServe},
		{"config check", "[--config FILE]  validate the configuration and exit", runConfigCheck},
		{"passwd", "  read a password and print its bcrypt hash for [[users]]", runPasswd},
		{"queue list", "[--state S] [--domain D] [--json]  list queued messages", runQueueList},
		{"queue show", "ID  show a message: envelope, headers, per-recipient history", runQueueShow},
		{"queue flush", "[ID | --domain D | --all]  attempt delivery now", runQueueFlush},
		{"queue hold", "ID  stop delivery attempts for a message", runQueueHold},
		{"queue release", "ID  resume delivery of a held message", runQueueRelease},
		{"queue delete", "ID  delete a message from the queue", runQueueDelete},
		{"queue stats", "[--json]  count messages by state and destination; oldest message age", runQueueStats},
		{"sendmail", "[-t] [-i] [-f FROM] [-F NAME] [RCPT...]  submit a message read on stdin (also as argv[0] sendmail)", runSendmail},
		{"bounces", "[--since T] [--json]  show the bounce log", runBounces},
		{"spool check", "[--spool DIR | --config FILE]  check the stopped daemon's spool offline: exit 0 clean, 1 damaged", runSpoolCheck},
		{"spool salvage", "--from DIR --to NEWDIR  copy every readable message of a damaged spool into a new one", runSpoolSalvage},
		{"dkim keygen", "--domain D --selector S [--type rsa|ed25519] [--bits N] [--out FILE]  make a DKIM key, print its DNS record", runDKIMKeygen},
		{"dkim check", "--domain D --selector S [--config FILE] [--resolver ip:port]  check the published DKIM record", runDKIMCheck},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, &cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}, os.Args)
	stop()
	os.Exit(code)
}

// dispatch finds the verb named by args (longest match first) and runs it.
func dispatch(ctx context.Context, c *cli, args []string) int {
	// Installed as /usr/sbin/sendmail (a symlink), the binary is sendmail.
	if filepath.Base(args[0]) == "sendmail" {
		return runSendmail(ctx, c, args[1:])
	}
	rest := args[1:]
	var best *command
	var n int
	cmds := commands()
	for i := range cmds {
		words := strings.Fields(cmds[i].name)
		if len(words) > len(rest) || len(words) <= n {
			continue
		}
		if strings.Join(rest[:len(words)], " ") == cmds[i].name {
			best, n = &cmds[i], len(words)
		}
	}
	if best == nil {
		if len(rest) > 0 && rest[0] != "help" && rest[0] != "-h" && rest[0] != "--help" {
			fmt.Fprintf(c.stderr, "outbox: unknown command %q\n\n", strings.Join(rest, " "))
		}
		usage(c.stderr)
		return exitUsage
	}
	return best.run(ctx, c, rest[n:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: outbox COMMAND [ARGS]")
	fmt.Fprintln(w)
	for _, cmd := range commands() {
		fmt.Fprintf(w, "  outbox %s %s\n", cmd.name, cmd.usage)
	}
}
