package submission

import (
	"bufio"
	"strings"
	"testing"
)

// A client that resubmits with the same Outbox-Idempotency-Key (after a
// lost 250) gets the first queue ID and no second message; the field is
// not stored; the same key with another envelope is refused.
func TestIdempotencyKeyResubmission(t *testing.T) {
	sp := newFakeSpool(t)
	ts := startServer(t, func(o *Options) { o.Spool = sp })
	msg := "Outbox-Idempotency-Key: order-1042\r\nSubject: shipped\r\n\r\nhello\r\n"
	rcpts := []string{"x@example.org"}

	first, err := send(client(t, ts.addr, "127.0.0.1"), "app@example.com", rcpts, msg)
	if err != nil {
		t.Fatal(err)
	}
	again, err := send(client(t, ts.addr, "127.0.0.1"), "app@example.com", rcpts, msg)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(first, "2.0.0 Ok: queued as ") || again != first {
		t.Fatalf("replies %q and %q, want the same queue ID", first, again)
	}
	if n := sp.count(); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}
	if _, body := sp.get(t, sp.id(0)); strings.Contains(body, "Idempotency") {
		t.Errorf("the key field was stored:\n%s", body)
	}

	_, err = send(client(t, ts.addr, "127.0.0.1"), "app@example.com", []string{"y@example.org"}, msg)
	if err == nil || !strings.Contains(err.Error(), "another envelope") {
		t.Errorf("same key, another envelope: %v, want 554", err)
	}
	other, err := send(client(t, ts.addr, "127.0.0.1"), "app@example.com", rcpts,
		strings.Replace(msg, "order-1042", "order-1043", 1))
	if err != nil || other == first {
		t.Errorf("another key: %q, %v; want a new message", other, err)
	}
	if n := sp.count(); n != 2 {
		t.Errorf("%d messages stored, want 2", n)
	}
}

func TestTakeIdempotencyKey(t *testing.T) {
	tests := []struct {
		name, head, key, err string
	}{
		{"absent", "Subject: a\r\n", "", ""},
		{"one", "Outbox-Idempotency-Key: k-1\r\nSubject: a\r\n", "k-1", ""},
		{"twice the same", "outbox-idempotency-key: k\r\nOutbox-Idempotency-Key:  k\r\n", "k", ""},
		{"conflicting", "Outbox-Idempotency-Key: a\r\nOutbox-Idempotency-Key: b\r\n", "", "conflicting"},
		{"empty", "Outbox-Idempotency-Key:\r\n", "", "printable"},
		{"space inside", "Outbox-Idempotency-Key: a b\r\n", "", "printable"},
		{"too long", "Outbox-Idempotency-Key: " + strings.Repeat("k", 256) + "\r\n", "", "printable"},
	}
	for _, tt := range tests {
		h := parseHead(t, tt.head+"\r\nbody")
		key, err := h.takeIdempotencyKey()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil || key != tt.key || h.has(idempotencyHeader) {
			t.Errorf("%s: key %q err %v, field left: %v", tt.name, key, err, h.has(idempotencyHeader))
		}
	}
}

func parseHead(t *testing.T, msg string) header {
	t.Helper()
	h, err := readHeader(bufio.NewReader(strings.NewReader(msg)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
