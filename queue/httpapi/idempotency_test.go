package httpapi

import (
	"crypto/sha256"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func (a *testAPI) postKey(t *testing.T, body, idemKey, auth string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest("POST", a.url+"/v1/messages", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", idemKey)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0, "", nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

// TestIdempotencyKey: a retry with the same key and body gets the same
// answer and spools nothing, also when the retries race; the same key
// with another body is 409; keys are per client.
func TestIdempotencyKey(t *testing.T) {
	a := newTestAPI(t, func(o *Options) {
		o.Keys = []Key{{Name: "x", Hash: sha256.Sum256([]byte("kx"))}}
	})
	body := `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`
	var wg sync.WaitGroup
	answers := make([]string, 8)
	for i := range answers {
		wg.Go(func() {
			status, resp, _ := a.postKey(t, body, "order-42", "")
			if status != 202 {
				t.Errorf("request %d: %d %s", i, status, resp)
			}
			answers[i] = resp
		})
	}
	wg.Wait()
	for i, ans := range answers {
		if ans != answers[0] {
			t.Errorf("answer %d %q differs from %q", i, ans, answers[0])
		}
	}
	if n := a.count(t); n != 1 {
		t.Fatalf("%d messages spooled by 8 requests with one key, want 1", n)
	}
	status, resp, h := a.postKey(t, body, "order-42", "")
	if status != 202 || resp != answers[0] || h.Get("Idempotent-Replayed") != "true" {
		t.Errorf("retry: %d %q %v", status, resp, h)
	}
	if status, resp, _ := a.postKey(t, strings.Replace(body, `"x"`, `"y"`, 1), "order-42", ""); status != 409 {
		t.Errorf("same key, other body: %d %s, want 409", status, resp)
	}
	// Another client's key space: the same value is a new submission.
	if status, resp, _ := a.postKey(t, body, "order-42", "Bearer kx"); status != 202 || resp == answers[0] {
		t.Errorf("other client: %d %s", status, resp)
	}
	if status, resp, _ := a.postKey(t, body, "bad key", ""); status != 400 || !strings.Contains(resp, `"field":"Idempotency-Key"`) {
		t.Errorf("bad key: %d %s", status, resp)
	}
	if n := a.count(t); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}
