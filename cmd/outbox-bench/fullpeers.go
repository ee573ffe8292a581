package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	msgdkim "github.com/emersion/go-msgauth/dkim"
	"github.com/emersion/go-smtp"
)

// hookSink is the webhook endpoint of the full systems: it answers every
// POST with 204 and counts the events, and the delivered ones, it got.
type hookSink struct {
	srv       *http.Server
	port      int
	events    atomic.Int64
	delivered atomic.Int64
}

func startHookSink() (*hookSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := &hookSink{port: l.Addr().(*net.TCPAddr).Port}
	h.srv = &http.Server{Handler: http.HandlerFunc(h.serve), ReadHeaderTimeout: 10 * time.Second}
	go h.srv.Serve(l)
	return h, nil
}

func (h *hookSink) serve(w http.ResponseWriter, r *http.Request) {
	var batch struct {
		Data struct {
			Events []struct {
				Type string `json:"type"`
			} `json:"events"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&batch); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, e := range batch.Data.Events {
		if e.Type == "delivered" {
			h.delivered.Add(1)
		}
	}
	h.events.Add(int64(len(batch.Data.Events)))
	w.WriteHeader(http.StatusNoContent)
}

// wait waits until the endpoint got n delivered events: the webhook's work
// for the run is then done, and counted in the daemon's CPU.
func (h *hookSink) wait(ctx context.Context, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for h.delivered.Load() < int64(n) {
		if time.Now().After(deadline) {
			return fmt.Errorf("webhook: %d delivered events of %d after %s", h.delivered.Load(), n, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

func (h *hookSink) stop() { h.srv.Close() }

// captureServer is an SMTP server that hands each message it receives to
// got: where the check message of a full run is relayed.
type captureServer struct {
	srv  *smtp.Server
	port int
	got  chan []byte
}

func startCapture() (*captureServer, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	c := &captureServer{port: l.Addr().(*net.TCPAddr).Port, got: make(chan []byte, 4)}
	c.srv = smtp.NewServer(c)
	c.srv.Domain = "capture.bench.test"
	c.srv.ReadTimeout, c.srv.WriteTimeout = time.Minute, time.Minute
	go c.srv.Serve(l)
	return c, nil
}

// NewSession implements smtp.Backend.
func (c *captureServer) NewSession(*smtp.Conn) (smtp.Session, error) {
	return &captureSession{got: c.got}, nil
}

func (c *captureServer) stop() { c.srv.Close() }

type captureSession struct{ got chan<- []byte }

func (s *captureSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *captureSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *captureSession) Reset()                               {}
func (s *captureSession) Logout() error                        { return nil }

func (s *captureSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	select {
	case s.got <- b:
	default: // a redelivery nobody waits for
	}
	return nil
}

// sendOne submits one message to the daemon on port, one session.
func sendOne(port int, from, to, body string) error {
	c, err := smtp.Dial(fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SendMail(from, []string{to}, strings.NewReader(body)); err != nil {
		return err
	}
	return c.Quit()
}

// verifyDKIM checks msg's DKIM signatures against record (the key's TXT
// record): with a record, exactly one signature that verifies; without
// one, no signature at all.
func verifyDKIM(msg []byte, record string) (string, error) {
	vs, err := msgdkim.VerifyWithOptions(bytes.NewReader(msg), &msgdkim.VerifyOptions{
		LookupTXT: func(string) ([]string, error) { return []string{record}, nil },
	})
	switch {
	case err != nil:
		return "", fmt.Errorf("check message: dkim: %w", err)
	case record == "" && len(vs) != 0:
		return "", fmt.Errorf("check message: signed, with DKIM off")
	case record == "":
		return "check message unsigned (DKIM off)", nil
	case len(vs) != 1:
		return "", fmt.Errorf("check message: %d DKIM signatures, want 1", len(vs))
	case vs[0].Err != nil:
		return "", fmt.Errorf("check message: DKIM signature does not verify: %w", vs[0].Err)
	}
	return "check message signed d=" + vs[0].Domain + ", signature verified", nil
}
