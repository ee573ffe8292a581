package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/store"
)

// TestOpenAPIMatchesTypes: the document is served, parses, and its request
// schemas list exactly the JSON fields the decoder accepts.
func TestOpenAPIMatchesTypes(t *testing.T) {
	a := newTestAPI(t, func(o *Options) { o.TrustLoopback = false })
	resp, err := http.Get(a.url + "/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Paths      map[string]any
		Components struct {
			Schemas map[string]struct {
				Properties map[string]any
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /v1/openapi.json without a key: %d, %v", resp.StatusCode, err)
	}
	for _, p := range []string{"/v1/messages", "/v1/messages/{id}", "/v1/events", "/v1/suppressions", "/v1/suppressions/{address}"} {
		if doc.Paths[p] == nil {
			t.Errorf("path %s is not documented", p)
		}
	}
	for name, typ := range map[string]reflect.Type{
		"SendRequest":     reflect.TypeFor[sendRequest](),
		"Attachment":      reflect.TypeFor[attachment](),
		"Envelope":        reflect.TypeFor[envelope](),
		"SuppressRequest": reflect.TypeFor[suppressRequest](),
		"Suppression":     reflect.TypeFor[admin.Suppression](),
		"Event":           reflect.TypeFor[store.Event](),
		"EventPage":       reflect.TypeFor[eventsResponse](),
	} {
		var want, got []string
		for f := range typ.Fields() {
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag != "" && tag != "-" {
				want = append(want, tag)
			}
		}
		for p := range doc.Components.Schemas[name].Properties {
			got = append(got, p)
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("schema %s lists %v, the decoder takes %v", name, got, want)
		}
	}
}
