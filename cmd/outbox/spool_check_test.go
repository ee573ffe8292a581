package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// seedSpoolDir writes n messages (bodies of 100 bytes to 10 KiB: inline
// and files) into a new spool and closes it.
func seedSpoolDir(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(dir, store.Options{InlineMax: 4096, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b, err := db.NewBody()
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(b, "Subject: %d\r\n\r\n%s\r\n", i, strings.Repeat("x", 100+i*397%10000))
		m := &store.Message{From: "a@example.org", Recipients: []store.Recipient{{Addr: fmt.Sprintf("r%d@example.com", i)}}}
		if err := db.Enqueue(context.Background(), m, b); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestSpoolCheck(t *testing.T) {
	clean := seedSpoolDir(t, 50)
	noBody := seedSpoolDir(t, 50)
	entries, _ := os.ReadDir(filepath.Join(noBody, "bodies"))
	os.Remove(filepath.Join(noBody, "bodies", entries[0].Name()))
	truncated := seedSpoolDir(t, 50)
	os.Truncate(filepath.Join(truncated, "spool.db"), 3*4096) // the meta pages and one more

	locked := seedSpoolDir(t, 1)
	db, err := store.Open(locked, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"clean", []string{"--spool", clean}, exitOK, []string{"50 messages", "spool OK"}, nil},
		{"missing body file", []string{"--spool", noBody}, exitError,
			[]string{"DAMAGED: 1 problems", entries[0].Name(), "is missing", "outbox spool salvage --from " + noBody}, nil},
		{"truncated", []string{"--spool", truncated}, exitError,
			[]string{"DAMAGED", filepath.Join(truncated, "spool.db"), "truncated"}, nil},
		{"daemon running", []string{"--spool", locked}, exitUsage, nil, []string{"locked", "stop it first"}},
		{"no spool", []string{"--spool", t.TempDir()}, exitUsage, nil, []string{"no spool"}},
		{"both", []string{"--spool", clean, "--config", "x.toml"}, exitUsage, nil, []string{"not both"}},
		{"argument", []string{"--spool", clean, "extra"}, exitUsage, nil, []string{"unexpected argument"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerbRun(t, runSpoolCheck, tc.args, tc.code, tc.stdout, tc.stderr)
		})
	}
}
