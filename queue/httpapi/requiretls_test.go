package httpapi

import (
	"net/http"
	"testing"

	"github.com/outbox-mta/outbox/store"
)

// "require_tls": true stores the message with REQUIRETLS (RFC 8689), which
// delivery honours as for SMTP's MAIL ... REQUIRETLS.
func TestPostRequireTLS(t *testing.T) {
	a := newTestAPI(t, nil)
	for body, want := range map[string]store.TLSReq{
		`{"from":"a@example.com","to":["b@example.org"],"text":"x","require_tls":true}`:                                 store.TLSReqRequire,
		`{"from":"a@example.com","to":["b@example.org"],"text":"x","require_tls":false}`:                                store.TLSReqNone,
		`{"from":"a@example.com","to":["b@example.org"],"text":"x","headers":{"TLS-Required":"No"}}`:                    store.TLSReqOptional,
		`{"from":"a@example.com","to":["b@example.org"],"text":"x","require_tls":true,"headers":{"TLS-Required":"No"}}`: store.TLSReqRequire,
	} {
		status, out := a.post(t, body, "")
		if status != http.StatusAccepted {
			t.Fatalf("status %d: %v", status, out)
		}
		if m, _ := a.stored(t, out["id"].(string)); m.TLSReq != want {
			t.Errorf("%s: TLSReq %v, want %v", body, m.TLSReq, want)
		}
	}
}
