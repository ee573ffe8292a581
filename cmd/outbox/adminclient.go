package main

// Helpers shared by the verbs that talk to the running daemon over its
// admin socket (queue list/show/flush/hold/release/delete, bounces).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// defaultSocket is the admin socket of the embedded default configuration
// (config.Default: spool ./outbox-spool, socket beside it).
const defaultSocket = "./outbox-spool/admin.sock"

// adminCmd is the flag set of one admin verb with the flags every admin verb
// shares: --config and --socket.
type adminCmd struct {
	*verbFlags
	config string
	socket string
}

// newAdminCmd prepares the flags of verb name (a row of the verb table).
func newAdminCmd(c *cli, name string) *adminCmd {
	a := &adminCmd{verbFlags: newVerbFlags(c, name)}
	a.fs.StringVar(&a.config, "config", "", "configuration `file`, to find the admin socket")
	a.fs.StringVar(&a.socket, "socket", "", "admin socket `path` (overrides --config; default "+defaultSocket+")")
	return a
}

// client connects to the daemon named by --socket, else by --config's
// admin.socket, else the default socket.
func (a *adminCmd) client() (*admin.Client, error) {
	path, err := socketPath(a.config, a.socket)
	if err != nil {
		return nil, err
	}
	return admin.NewClient(path), nil
}

// socketPath picks the admin socket: socketFlag wins, then the admin.socket
// of configFile, then the default. The file is read as a client reads it
// (config.LoadClient): an admin-group member needs the socket's path, not
// the keys and password files the configuration names, which only the
// service may read.
func socketPath(configFile, socketFlag string) (string, error) {
	if socketFlag != "" {
		return socketFlag, nil
	}
	if configFile == "" {
		return defaultSocket, nil
	}
	cfg, err := config.LoadClient(configFile)
	if err != nil {
		return "", err
	}
	return cfg.Admin.Socket, nil
}

// fail reports err for message id ("" when none) and returns exitError.
// An unknown message and a stopped daemon get the plain sentences the
// operator needs; other errors are prefixed with the verb.
func (a *adminCmd) fail(err error, id string) int {
	switch {
	case errors.Is(err, store.ErrNotFound) && id != "":
		fmt.Fprintf(a.c.stderr, "no such message: %s\n", id)
	case errors.Is(err, admin.ErrNotRunning):
		fmt.Fprintln(a.c.stderr, err)
	default:
		fmt.Fprintf(a.c.stderr, "outbox %s: %v\n", a.name, err)
	}
	return exitError
}

// formatDuration is a short human duration for tables: "45s", "12m",
// "3h05m", "2d4h". Negative durations are formatted as their magnitude.
func formatDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

// formatTime prints an absolute time for humans, in local time.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05 MST")
}

// sender prints an envelope sender, "<>" for the null sender.
func sender(from string) string {
	if from == "" {
		return "<>"
	}
	return from
}

// oneLine flattens a multi-line SMTP reply and bounds its length, so a
// chatty remote server cannot wreck the table.
func oneLine(s string, max int) string {
	r := []rune(strings.Join(strings.Fields(s), " "))
	if len(r) > max {
		return string(r[:max-3]) + "..."
	}
	return string(r)
}

// writeJSON writes v as indented JSON, in the admin wire schema.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
