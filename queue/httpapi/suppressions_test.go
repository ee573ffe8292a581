package httpapi

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// call makes one request and decodes a JSON answer (nil for none).
func (a *testAPI) call(t *testing.T, method, path, body, auth string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, a.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, out
}

// TestSuppressionsAPI: add (normalised, 201), show, list with pages,
// remove (204), and the errors naming their field.
func TestSuppressionsAPI(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	var a *testAPI
	a = newTestAPI(t, func(o *Options) {
		o.Now = func() time.Time { return now }
	})
	// The list is the spool's; wire it after the store is open.
	a.srv, _ = New(Options{Spool: a.db, Suppressions: a.db, Hostname: "mx.test", TrustLoopback: true,
		MaxMessageSize: 64 << 10, MaxRecipients: 3, Now: func() time.Time { return now }})
	a.url = serve(t, a.srv)

	status, out := a.call(t, "POST", "/v1/suppressions", `{"address":"Ann@Example.ORG","note":"asked us to stop","expires_at":"2031-01-01T00:00:00Z"}`, "")
	if status != http.StatusCreated || out["address"] != "Ann@example.org" || out["reason"] != "manual" ||
		out["reply"] != "asked us to stop" || out["expires"] != "2031-01-01T00:00:00Z" || out["active"] != true {
		t.Fatalf("POST: %d %v", status, out)
	}
	for _, addr := range []string{"bob@example.org", "carl@example.org"} {
		if status, out := a.call(t, "POST", "/v1/suppressions", `{"address":"`+addr+`"}`, ""); status != http.StatusCreated {
			t.Fatalf("POST %s: %d %v", addr, status, out)
		}
	}
	if got, err := a.db.Suppressed(context.Background(), []string{"Ann@example.org."}, now); err != nil || len(got) != 1 {
		t.Errorf("the store has %v, %v", got, err)
	}
	if status, out := a.call(t, "GET", "/v1/suppressions/Ann@EXAMPLE.org", "", ""); status != 200 || out["address"] != "Ann@example.org" {
		t.Errorf("GET one: %d %v", status, out)
	}
	status, out = a.call(t, "GET", "/v1/suppressions?limit=2", "", "")
	if status != 200 || len(out["suppressions"].([]any)) != 2 || out["next"] != "bob@example.org" {
		t.Fatalf("GET page 1: %d %v", status, out)
	}
	status, out = a.call(t, "GET", "/v1/suppressions?limit=2&after=bob@example.org", "", "")
	if list := out["suppressions"].([]any); status != 200 || len(list) != 1 || list[0].(map[string]any)["address"] != "carl@example.org" || out["next"] != nil {
		t.Fatalf("GET page 2: %d %v", status, out)
	}
	if status, _ := a.call(t, "DELETE", "/v1/suppressions/bob@EXAMPLE.org", "", ""); status != http.StatusNoContent {
		t.Errorf("DELETE: %d", status)
	}
	if status, out := a.call(t, "DELETE", "/v1/suppressions/bob@example.org", "", ""); status != http.StatusNotFound || out["field"] != "address" {
		t.Errorf("DELETE again: %d %v", status, out)
	}
	if status, _ := a.call(t, "GET", "/v1/suppressions/bob@example.org", "", ""); status != http.StatusNotFound {
		t.Errorf("GET removed: %d", status)
	}

	for _, c := range []struct{ name, method, path, body, field string }{
		{"no address", "POST", "/v1/suppressions", `{"note":"x"}`, "address"},
		{"bad address", "POST", "/v1/suppressions", `{"address":"nobody"}`, "address"},
		{"bad time", "POST", "/v1/suppressions", `{"address":"a@b.c","expires_at":"soon"}`, "expires_at"},
		{"past expiry", "POST", "/v1/suppressions", `{"address":"a@b.c","expires_at":"2000-01-01T00:00:00Z"}`, "expires_at"},
		{"unknown field", "POST", "/v1/suppressions", `{"address":"a@b.c","reason":"bounce"}`, "reason"},
		{"wrong type", "POST", "/v1/suppressions", `{"address":1}`, "address"},
		{"bad limit", "GET", "/v1/suppressions?limit=0", ``, "limit"},
		{"bad path address", "DELETE", "/v1/suppressions/nobody", ``, "address"},
	} {
		status, out := a.call(t, c.method, c.path, c.body, "")
		if status != http.StatusBadRequest || out["field"] != c.field {
			t.Errorf("%s: %d %v, want 400 naming %s", c.name, status, out, c.field)
		}
	}
	if list, _ := a.db.Suppressions(context.Background(), "", 0); len(list) != 2 {
		t.Errorf("refused requests changed the list: %v", list)
	}
}

// TestSuppressionsNeedKey: off loopback trust, the endpoints need a key.
func TestSuppressionsNeedKey(t *testing.T) {
	a := newTestAPI(t, nil)
	a.srv, _ = New(Options{Spool: a.db, Suppressions: a.db, Hostname: "mx.test", MaxMessageSize: 1 << 10, MaxRecipients: 1})
	a.url = serve(t, a.srv)
	if status, _ := a.call(t, "GET", "/v1/suppressions", "", ""); status != http.StatusUnauthorized {
		t.Errorf("GET without a key: %d", status)
	}
	if status, _ := a.call(t, "DELETE", "/v1/suppressions/a@b.c", "", ""); status != http.StatusUnauthorized {
		t.Errorf("DELETE without a key: %d", status)
	}
}

// TestPostPriorityAndOverride: priority and ignore_suppressions are
// stored; a key with ignore_suppressions sets it on every message; a bad
// priority is refused naming the field.
func TestPostPriorityAndOverride(t *testing.T) {
	secret := "obx_test-secret"
	h := sha256.Sum256([]byte(secret))
	a := newTestAPI(t, func(o *Options) {
		o.Keys = []Key{{Name: "crm", Hash: h, IgnoreSuppressions: true}}
	})
	msg := `"from":"a@example.com","to":["b@example.org"],"text":"x"`
	for _, c := range []struct {
		body, auth string
		prio       store.Priority
		ignore     bool
	}{
		{`{` + msg + `}`, "", store.PriorityNormal, false},
		{`{` + msg + `,"priority":"high"}`, "", store.PriorityHigh, false},
		{`{` + msg + `,"priority":"bulk","ignore_suppressions":true}`, "", store.PriorityBulk, true},
		{`{` + msg + `,"priority":"normal"}`, "Bearer " + secret, store.PriorityNormal, true},
	} {
		status, out := a.post(t, c.body, c.auth)
		if status != http.StatusAccepted {
			t.Fatalf("%s: %d %v", c.body, status, out)
		}
		m, _ := a.stored(t, out["id"].(string))
		if m.Priority != c.prio || m.IgnoreSuppressions != c.ignore {
			t.Errorf("%s: priority %v ignore %v, want %v %v", c.body, m.Priority, m.IgnoreSuppressions, c.prio, c.ignore)
		}
	}
	status, out := a.post(t, `{`+msg+`,"priority":"urgent"}`, "")
	if status != http.StatusBadRequest || out["field"] != "priority" {
		t.Errorf("bad priority: %d %v", status, out)
	}
}
