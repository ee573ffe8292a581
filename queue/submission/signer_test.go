package submission

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// fakeSigner records what the listener streams through its latest Signing.
type fakeSigner struct {
	mu      sync.Mutex
	from    string
	fields  []string
	seen    bytes.Buffer
	aborted bool
	signErr error
	skip    bool // Sign returns nil: unsigned
}

func (f *fakeSigner) Sign(from string, fields []string) (Signing, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.from, f.fields = from, fields
	f.seen.Reset()
	if f.signErr != nil || f.skip {
		return nil, f.signErr
	}
	return fakeSigning{f}, nil
}

type fakeSigning struct{ f *fakeSigner }

func (s fakeSigning) Write(p []byte) (int, error) {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.f.seen.Write(p)
}

func (s fakeSigning) Finish() ([]byte, []string, error) {
	return []byte("DKIM-Signature: fake\r\n"), []string{"example.com/s (fake)"}, nil
}

func (s fakeSigning) Abort() {
	s.f.mu.Lock()
	s.f.aborted = true
	s.f.mu.Unlock()
}

// TestSigner: the signer sees exactly the bytes stored after the prefix,
// the From value and the field names; its prefix comes first in the stored
// message; an unsigned or failing signer behaves as documented.
func TestSigner(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	tests := []struct {
		name     string
		signer   *fakeSigner
		wantCode int // 0: accepted
		signed   bool
	}{
		{"signed", &fakeSigner{}, 0, true},
		{"no key", &fakeSigner{skip: true}, 0, false},
		{"sign error", &fakeSigner{signErr: errors.New("key gone")}, 451, false},
	}
	msg := "From: \"App\" <app@Example.com>\r\nTo: x@example.org\r\nSubject: s\r\n\r\nbody\r\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startServer(t, func(o *Options) { o.Spool = db; o.Signer = tt.signer })
			reply, err := send(client(t, ts.addr, "127.0.0.1"), "app@example.com", []string{"x@example.org"}, msg)
			if tt.wantCode != 0 {
				if c, _ := code(t, err); c != tt.wantCode {
					t.Fatalf("reply %v, want %d", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			id := strings.TrimPrefix(reply, "2.0.0 Ok: queued as ")
			m, err := db.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := db.OpenBody(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			stored, _ := io.ReadAll(rc)
			rc.Close()
			f := tt.signer
			f.mu.Lock()
			defer f.mu.Unlock()
			if f.from != `"App" <app@Example.com>` {
				t.Errorf("Sign from = %q", f.from)
			}
			if want := []string{"Received", "From", "To", "Subject", "Date", "Message-ID"}; !slices.Equal(f.fields, want) {
				t.Errorf("Sign fields = %q, want %q", f.fields, want)
			}
			if !tt.signed {
				if bytes.HasPrefix(stored, []byte("DKIM")) || m.Signed != nil {
					t.Errorf("unsigned message stored with a signature: %q %q", stored[:20], m.Signed)
				}
				return
			}
			rest, ok := bytes.CutPrefix(stored, []byte("DKIM-Signature: fake\r\n"))
			if !ok || !bytes.Equal(rest, f.seen.Bytes()) {
				t.Errorf("stored %q\nsigner saw %q", stored, f.seen.Bytes())
			}
			if m.Size != int64(len(stored)) || !slices.Equal(m.Signed, []string{"example.com/s (fake)"}) {
				t.Errorf("Size %d (stored %d), Signed %q", m.Size, len(stored), m.Signed)
			}
		})
	}
}
