package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// storeMessages reads messages straight from the store, as queue.Ops does.
type storeMessages struct{ db *store.DB }

func (s storeMessages) Get(ctx context.Context, id string) (*store.Message, error) {
	return s.db.Get(ctx, id)
}

func (s storeMessages) Headers(ctx context.Context, id string) (string, error) {
	rc, err := s.db.OpenBody(ctx, id)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	return string(head), err
}

func (a *testAPI) get(t *testing.T, id, auth string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", a.url+"/v1/messages/"+id, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestGetMessage: a client reads back its own message in the admin wire
// form; another key's message is 404, as is an unknown ID.
func TestGetMessage(t *testing.T) {
	a := newTestAPI(t, func(o *Options) {
		o.TrustLoopback = false
		o.Keys = []Key{{Name: "a", Hash: sha256.Sum256([]byte("ka"))}, {Name: "b", Hash: sha256.Sum256([]byte("kb"))}}
		o.Messages = storeMessages{o.Spool.(*store.DB)}
	})
	status, out := a.post(t, `{"from":"a@example.com","to":["b@example.org"],"subject":"hello","text":"x",
		"tags":["welcome"],"metadata":{"user":"42"}}`, "Bearer ka")
	if status != 202 {
		t.Fatalf("POST %d %v", status, out)
	}
	id := out["id"].(string)
	status, got := a.get(t, id, "Bearer ka")
	msg, _ := got["message"].(map[string]any)
	if status != 200 || msg["id"] != id || !strings.Contains(got["headers"].(string), "Subject: hello") {
		t.Errorf("GET own message: %d %v", status, got)
	}
	if tags, _ := msg["tags"].([]any); len(tags) != 1 || tags[0] != "welcome" {
		t.Errorf("tags %v, want [welcome]", msg["tags"])
	}
	if md, _ := msg["metadata"].(map[string]any); len(md) != 1 || md["user"] != "42" {
		t.Errorf("metadata %v, want user=42", msg["metadata"])
	}
	if status, got := a.get(t, id, "Bearer kb"); status != 404 {
		t.Errorf("GET another key's message: %d %v, want 404", status, got)
	}
	if status, got := a.get(t, "nosuchid", "Bearer ka"); status != 404 {
		t.Errorf("GET unknown: %d %v, want 404", status, got)
	}
	if status, _ := a.get(t, id, ""); status != 401 {
		t.Errorf("GET without key: %d, want 401", status)
	}
}
