package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/admin/admintest"
	"github.com/outbox-mta/outbox/store"
)

// eventsSpool is a real spool with one message of two recipients, one
// delivered and one bounced: events 1-4, served on an admin socket.
func eventsSpool(t *testing.T) (*store.DB, string) {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	id := spoolOne(t, db, "ok@example.org", "gone@example.org")
	err = db.Update(context.Background(), id, func(m *store.Message) error {
		m.Recipients[0].State, m.Recipients[0].Attempts = store.StateDelivered, 1
		m.Recipients[1].State, m.Recipients[1].Attempts = store.StateBounced, 1
		m.Recipients[1].History = []store.Attempt{{Time: time.Now(), Host: "mx.example.org[192.0.2.1]:25",
			Code: 550, Enhanced: "5.1.1", Reply: "no such user", Result: store.StateBounced}}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sock := admintest.ServeWith(t, admin.Options{Queue: admintest.NewQueue(t), Events: db})
	return db, sock
}

func spoolOne(t *testing.T, db *store.DB, rcpts ...string) string {
	t.Helper()
	b, err := db.NewBody()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(b, "Subject: x\r\n\r\nbody\r\n")
	m := &store.Message{From: "app@example.com"}
	for _, r := range rcpts {
		m.Recipients = append(m.Recipients, store.Recipient{Addr: r})
	}
	if err := db.Enqueue(context.Background(), m, b); err != nil {
		t.Fatal(err)
	}
	return m.ID
}

func TestEventsTable(t *testing.T) {
	_, sock := eventsSpool(t)
	code, out, errOut := adminRun(t, runEvents, "--socket", sock)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 5 || strings.Join(strings.Fields(lines[0]), " ") != "SEQ TIME TYPE ID RECIPIENT ATTEMPT DETAIL" {
		t.Fatalf("want a header and 4 rows:\n%s", out)
	}
	if f := strings.Fields(lines[4]); f[0] != "4" || f[4] != "bounced" || f[6] != "gone@example.org" ||
		!strings.Contains(lines[4], "[remote-5xx] 550 5.1.1 no such user host mx.example.org[192.0.2.1]:25") {
		t.Errorf("bounce row %q", lines[4])
	}
	code, out, _ = adminRun(t, runEvents, "--socket", sock, "--after", "4")
	if code != exitOK || out != "no events\n" {
		t.Errorf("after the last: %d %q", code, out)
	}
	if code, _, errOut := adminRun(t, runEvents, "--socket", sock, "--after", "x"); code != exitUsage || !strings.Contains(errOut, "--after") {
		t.Errorf("bad --after: %d %q", code, errOut)
	}
}

// TestEventsFollowJSON: --follow --json prints the events after --after,
// then each new one as it is committed, one JSON object per line, until
// interrupted.
func TestEventsFollowJSON(t *testing.T) {
	db, sock := eventsSpool(t)
	r, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runEvents(ctx, &cli{stdin: strings.NewReader(""), stdout: w, stderr: io.Discard},
			[]string{"--socket", sock, "--after", "2", "--follow", "--json"})
		w.Close()
	}()
	lines := bufio.NewScanner(r)
	next := func() store.Event {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("output ended: %v", lines.Err())
		}
		var e store.Event
		if err := json.Unmarshal(lines.Bytes(), &e); err != nil {
			t.Fatalf("%v: %s", err, lines.Bytes())
		}
		return e
	}
	if e := next(); e.Seq != 3 || e.Type != store.EventDelivered {
		t.Errorf("first line %+v", e)
	}
	if e := next(); e.Seq != 4 || e.Class != store.ClassRemote5xx || e.Reply.Code != 550 {
		t.Errorf("second line %+v", e)
	}
	spoolOne(t, db, "new@example.org")
	if e := next(); e.Seq != 5 || e.Type != store.EventAccepted || e.Recipient != "new@example.org" {
		t.Errorf("followed line %+v", e)
	}
	cancel()
	go io.Copy(io.Discard, r)
	if code := <-done; code != exitOK {
		t.Errorf("exit %d after interrupt, want 0", code)
	}
}

// TestEventsFollowAcrossRestart: --follow waits out a daemon that stops
// and goes on from the last number printed once it is back.
func TestEventsFollowAcrossRestart(t *testing.T) {
	db, _ := eventsSpool(t)
	path := filepath.Join(admintest.SocketDir(t), "admin.sock")
	serve := func() func() {
		l, err := admin.Listen(path)
		if err != nil {
			t.Fatal(err)
		}
		srv, err := admin.New(admin.Options{Queue: admintest.NewQueue(t), Events: db, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- srv.Serve(l) }()
		return func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
			<-done
		}
	}
	stop := serve()
	r, w := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int, 1)
	go func() {
		done <- runEvents(ctx, &cli{stdin: strings.NewReader(""), stdout: w, stderr: io.Discard},
			[]string{"--socket", path, "--after", "3", "--follow", "--json"})
		w.Close()
	}()
	lines := bufio.NewScanner(r)
	seqOf := func() uint64 {
		t.Helper()
		if !lines.Scan() {
			t.Fatalf("output ended: %v", lines.Err())
		}
		var e store.Event
		json.Unmarshal(lines.Bytes(), &e)
		return e.Seq
	}
	if s := seqOf(); s != 4 {
		t.Fatalf("first event %d, want 4", s)
	}
	stop() // the follower's long poll ends; the socket is gone
	spoolOne(t, db, "while-down@example.org")
	stop = serve()
	defer stop()
	if s := seqOf(); s != 5 {
		t.Fatalf("after the restart: event %d, want 5", s)
	}
	cancel()
	go io.Copy(io.Discard, r)
	if code := <-done; code != exitOK {
		t.Errorf("exit %d, want 0", code)
	}
}
