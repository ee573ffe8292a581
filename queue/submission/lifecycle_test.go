package submission

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

func TestConnectionLimit(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.MaxConnections = 2 })
	first := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	expect(t, first.reply(), "220 ")
	second := newRaw(t, dial(t, ts.addr, "127.0.0.2"))
	expect(t, second.reply(), "220 ")

	over := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	expect(t, over.reply(), "421 4.7.0 outbox.test too many connections")
	if _, err := over.r.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("refused connection not closed: %v", err)
	}

	// A slot frees when a client leaves (STARTTLS-less QUIT here).
	expect(t, first.cmd("QUIT\r\n"), "221 ")
	waitFor(t, "a free slot", func() bool {
		c := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
		defer c.c.Close()
		line, err := c.r.ReadString('\n')
		return err == nil && line[:4] == "220 "
	})
}

func TestShutdownClosesIdleConnections(t *testing.T) {
	ts := startServer(t, nil)
	idle := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	idle.reply()
	idle.cmd("EHLO c\r\n")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := ts.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown took %v with only an idle connection", d)
	}
	if _, err := idle.r.ReadString('\n'); err == nil {
		t.Error("idle connection still open")
	}
	if c, err := dialMaybe(ts.addr); err == nil {
		c.Close()
		t.Error("still accepting after Shutdown")
	}
}

func TestShutdownWaitsForTransaction(t *testing.T) {
	ts := startServer(t, nil)
	busy := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	busy.reply()
	busy.cmd("EHLO c\r\n")
	expect(t, busy.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")
	expect(t, busy.cmd("RCPT TO:<b@example.org>\r\n"), "250 ")

	done := make(chan error, 1)
	go func() { done <- ts.srv.Shutdown(context.Background()) }()
	waitFor(t, "shutdown to start", func() bool {
		ts.srv.mu.Lock()
		defer ts.srv.mu.Unlock()
		return ts.srv.closing
	})
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v during a transaction", err)
	default:
	}
	// Another session may not start a transaction meanwhile — but the
	// listener is closed, so there is none; the busy one finishes.
	expect(t, busy.cmd("DATA\r\n"), "354 ")
	reply := busy.cmd("Subject: x\r\n\r\nx\r\n.\r\n")
	expect(t, reply, "250 2.0.0 Ok: queued as "+ts.spool.id(0))
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := busy.r.ReadString('\n'); err == nil {
		t.Error("connection still open after Shutdown")
	}
}

func TestShutdownDeadlineCutsTransaction(t *testing.T) {
	ts := startServer(t, nil)
	busy := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	busy.reply()
	busy.cmd("EHLO c\r\n")
	expect(t, busy.cmd("MAIL FROM:<a@example.com>\r\n"), "250 ")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if _, err := busy.r.ReadString('\n'); err == nil {
		t.Error("connection still open after Shutdown")
	}
	if ts.spool.count() != 0 {
		t.Error("message stored")
	}
}

func TestShutdownAbortsBlockedEnqueue(t *testing.T) {
	ts := startServer(t, nil)
	ts.spool.block = make(chan struct{}) // never released: a hung disk
	ts.spool.entered = make(chan struct{}, 1)
	busy := newRaw(t, dial(t, ts.addr, "127.0.0.1"))
	busy.reply()
	busy.cmd("EHLO c\r\n")
	busy.cmd("MAIL FROM:<a@example.com>\r\n")
	busy.cmd("RCPT TO:<b@example.org>\r\n")
	busy.cmd("DATA\r\n")
	if _, err := busy.c.Write([]byte("Subject: x\r\n\r\nx\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	<-ts.spool.entered
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := ts.srv.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want DeadlineExceeded", err)
	}
	if ts.spool.count() != 0 {
		t.Error("message stored")
	}
	// The client never got a 250.
	if line, err := busy.r.ReadString('\n'); err == nil && line[0] == '2' {
		t.Errorf("client got %q", line)
	}
}

func TestServeAfterShutdown(t *testing.T) {
	ts := startServer(t, nil)
	if err := ts.srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := ts.srv.Serve(listen(t)); !errors.Is(err, ErrServerClosed) {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
}
