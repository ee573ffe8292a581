package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

func TestSpoolSalvage(t *testing.T) {
	clean := seedSpoolDir(t, 30)
	damaged := seedSpoolDir(t, 30)
	entries, _ := os.ReadDir(filepath.Join(damaged, "bodies"))
	os.Remove(filepath.Join(damaged, "bodies", entries[0].Name()))
	locked := seedSpoolDir(t, 1)
	db, err := store.Open(locked, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	newDir := func() string { return filepath.Join(t.TempDir(), "new") }

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"clean", []string{"--from", clean, "--to", newDir()}, exitOK, []string{"30 messages recovered", "0 lost"}, nil},
		{"body file lost", []string{"--from", damaged, "--to", newDir()}, exitError,
			[]string{"29 messages recovered", "lost messages (1)", entries[0].Name() + ": body not found"}, nil},
		{"daemon running", []string{"--from", locked, "--to", newDir()}, exitUsage, nil, []string{"locked", "stop it first"}},
		{"into a spool", []string{"--from", clean, "--to", locked}, exitUsage, nil, []string{"already holds a spool"}},
		{"no --to", []string{"--from", clean}, exitUsage, nil, []string{"both required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerbRun(t, runSpoolSalvage, tc.args, tc.code, tc.stdout, tc.stderr)
		})
	}
}
