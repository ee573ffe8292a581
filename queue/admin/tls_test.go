package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// nopQueue is a Queue the TLS operations never call.
type nopQueue struct{ Queue }

type fakeTLSMemory struct {
	mu sync.Mutex
	m  map[string]string
}

func (f *fakeTLSMemory) TLSLevels(context.Context) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.m {
		out[k] = v
	}
	return out, nil
}

func (f *fakeTLSMemory) ResetTLSLevel(_ context.Context, d string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.m[d]
	delete(f.m, d)
	return ok, nil
}

func TestTLSOps(t *testing.T) {
	mem := &fakeTLSMemory{m: map[string]string{"a.test": "verified", "b.test": "encrypted"}}
	s, err := New(Options{Queue: nopQueue{}, TLS: mem})
	if err != nil {
		t.Fatal(err)
	}
	post := func(op, body string) (int, string) {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/"+op, strings.NewReader(body)))
		return rec.Code, rec.Body.String()
	}
	if code, body := post("tls", `{}`); code != 200 || !strings.Contains(body, `"a.test":"verified"`) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, _ := post("tls", `{"reset":"a.test"}`); code != 400 {
		t.Fatalf("reset through the read-only op: %d, want 400", code)
	}
	code, body := post("tls-reset", `{"reset":"a.test"}`)
	if code != 200 || !strings.Contains(body, `"reset":true`) || strings.Contains(body, "a.test") {
		t.Fatalf("reset: %d %s", code, body)
	}
	if !readOnlyOps["tls"] || readOnlyOps["tls-reset"] {
		t.Error("tls must be read-only and tls-reset not")
	}
}
