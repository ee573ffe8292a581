package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestMisbehavingEndpoints: each way an endpoint can misbehave is a
// failure whose text names the cause (redirects are not followed), and a
// huge 2xx reply is still a success, read only up to the limit.
func TestMisbehavingEndpoints(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://user:hunter2@elsewhere.example/hook", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/gone", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no such hook\n\nat all", http.StatusGone)
	})
	mux.HandleFunc("/huge", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.Write(bytes.Repeat([]byte("x"), 1<<20))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-block
	})
	plain := httptest.NewServer(mux)
	t.Cleanup(plain.Close)
	tlsSrv := httptest.NewTLSServer(mux)
	t.Cleanup(tlsSrv.Close)
	t.Cleanup(func() { close(block) }) // before the servers close: they wait for their handlers

	for _, tc := range []struct {
		name, url string
		want      string // "" means success
	}{
		{"redirect", plain.URL + "/redirect", `HTTP 301: redirect to "http://user:xxxxx@elsewhere.example/hook" not followed`},
		{"4xx with reply", plain.URL + "/gone", "HTTP 410: no such hook at all"},
		{"5xx", plain.URL + "/missing-is-404", "HTTP 404: 404 page not found"},
		{"huge 2xx reply", plain.URL + "/huge", ""},
		{"slow", plain.URL + "/slow", "no complete answer within 200ms (timeout)"},
		{"untrusted certificate", tlsSrv.URL + "/gone", "TLS: the endpoint's certificate is not trusted"},
		{"https to a plain port", strings.Replace(plain.URL, "http:", "https:", 1) + "/gone", "TLS: the endpoint does not speak TLS on this port"},
		{"refused", "http://127.0.0.1:1/hook", "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := endpoint(t, "app", tc.url)
			ep.Timeout = 5 * time.Second
			if tc.name == "slow" {
				ep.Timeout = 200 * time.Millisecond
			}
			d, err := New(Options{Endpoints: []Endpoint{ep}, Log: newFakeLog(), Cursors: newFakeCursors(),
				MaxReply: 4 << 10, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			err = d.workers[0].post(context.Background(), "outbox-1-1", []byte(`{}`))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("post = %v, want success", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("post = %v, want an error containing %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "hunter2"):
				t.Fatalf("error shows a password: %v", err)
			}
		})
	}
}

// TestNewRejectsBadEndpoints: a missing secret, a bad URL or a repeated
// name stop New, each named.
func TestNewRejectsBadEndpoints(t *testing.T) {
	good := endpoint(t, "app", "https://example.com/hook")
	noSecret := good
	noSecret.Name, noSecret.Secret = "nosecret", Secret{}
	ftp := endpoint(t, "ftp", "ftp://example.com/hook")
	_, err := New(Options{Endpoints: []Endpoint{good, good, noSecret, ftp}, Log: newFakeLog(), Cursors: newFakeCursors()})
	if err == nil {
		t.Fatal("New accepted bad endpoints")
	}
	for _, want := range []string{`"app": the name is used twice`, `"nosecret": no secret`, `"ftp": the URL must be http:// or https://`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// TestEncodeBatch: the payload is valid JSON in the Standard Webhooks
// shape, carrying each event's JSON unchanged.
func TestEncodeBatch(t *testing.T) {
	b := encodeBatch([]Event{{Seq: 1, JSON: []byte(`{"seq":1,"x":"a\"b"}`)}, {Seq: 2, JSON: []byte(`{"seq":2}`)}},
		time.Date(2026, 3, 1, 12, 0, 0, 500, time.FixedZone("x", 3600)))
	want := `{"type":"outbox.events","timestamp":"2026-03-01T11:00:00Z","data":{"events":[{"seq":1,"x":"a\"b"},{"seq":2}]}}`
	if string(b) != want {
		t.Fatalf("encodeBatch = %s\nwant %s", b, want)
	}
	if !json.Valid(b) {
		t.Fatal("not JSON")
	}
}
