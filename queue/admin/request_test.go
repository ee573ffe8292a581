package admin

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		into    func() request
		want    request // nil: an error containing errText
		errText string
	}{
		{"list all fields", `{"state":"held","domain":"example.com","after":"m1","limit":5,"done":true}`,
			func() request { return &listRequest{} },
			&listRequest{State: "held", Domain: "example.com", After: "m1", Limit: 5, Done: true}, ""},
		{"list empty object", `{}`, func() request { return &listRequest{} }, &listRequest{}, ""},
		{"trailing whitespace", "{\"id\":\"m1\"}\n\t ", func() request { return &idRequest{} }, &idRequest{ID: "m1"}, ""},
		{"bounces since", `{"since":"2025-03-01T12:00:00+01:00"}`, func() request { return &bouncesRequest{} },
			&bouncesRequest{Since: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)}, ""},
		{"flush domain", `{"domain":"example.org"}`, func() request { return &flushRequest{} },
			&flushRequest{Domain: "example.org"}, ""},
		{"unknown field", `{"id":"m1","force":true}`, func() request { return &idRequest{} }, nil, `unknown field "force"`},
		{"array", `[]`, func() request { return &idRequest{} }, nil, "decoding request"},
		{"two objects", `{"id":"a"}{"id":"b"}`, func() request { return &idRequest{} }, nil, "data after"},
		{"garbage after", `{"id":"a"} x`, func() request { return &idRequest{} }, nil, "data after"},
		{"empty", ``, func() request { return &idRequest{} }, nil, "empty request body"},
		{"long id", `{"id":"` + strings.Repeat("x", maxIDLen+1) + `"}`, func() request { return &idRequest{} }, nil, "longer than"},
		{"long domain", `{"domain":"` + strings.Repeat("x", maxDomainLen+1) + `"}`, func() request { return &flushRequest{} }, nil, "longer than"},
		{"DEL in id", `{"id":"a\u007f"}`, func() request { return &idRequest{} }, nil, "control character"},
		{"oversize", `{"id":"` + strings.Repeat(" ", MaxRequestBytes) + `"}`, func() request { return &idRequest{} }, nil, "request body over"},
		{"flush domain and all", `{"domain":"d","all":true}`, func() request { return &flushRequest{} }, nil, "exactly one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.into()
			err := decodeRequest(strings.NewReader(tt.body), req)
			if tt.want == nil {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("error %v, want one containing %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if br, ok := req.(*bouncesRequest); ok {
				if !br.Since.Equal(tt.want.(*bouncesRequest).Since) {
					t.Errorf("since %v, want %v", br.Since, tt.want.(*bouncesRequest).Since)
				}
				return
			}
			if !reflect.DeepEqual(req, tt.want) {
				t.Errorf("got %+v, want %+v", req, tt.want)
			}
		})
	}
	if err := decodeRequest(strings.NewReader(strings.Repeat("x", MaxRequestBytes+10)), &idRequest{}); !errors.Is(err, errRequestTooLarge) {
		t.Errorf("oversize error %v, want errRequestTooLarge", err)
	}
}

// FuzzDecodeRequest feeds arbitrary bodies to every request type. Decoding
// must never panic, and whatever it accepts must survive a round trip
// through our own encoding and still validate: the client sends exactly
// what the server accepts.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"state":"deferred","domain":"example.com","after":"m1","limit":50,"done":true}`,
		`{"id":"0190f0c2a9b7"}`,
		`{"all":true}`,
		`{"since":"2025-03-01T12:00:00Z"}`,
		`{"id":"x","unknown":1}`,
		`{"limit":1e9}`,
		``,
	} {
		f.Add([]byte(s))
	}
	kinds := []func() request{
		func() request { return &listRequest{} },
		func() request { return &idRequest{} },
		func() request { return &flushRequest{} },
		func() request { return &bouncesRequest{} },
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, kind := range kinds {
			req := kind()
			if err := decodeRequest(strings.NewReader(string(body)), req); err != nil {
				continue
			}
			if len(body) > MaxRequestBytes {
				t.Fatalf("accepted a %d-byte body", len(body))
			}
			enc, err := json.Marshal(req)
			if err != nil {
				t.Fatalf("re-encoding %T: %v", req, err)
			}
			again := kind()
			if err := decodeRequest(strings.NewReader(string(enc)), again); err != nil {
				t.Fatalf("%T %s accepted, but its re-encoding %s is not: %v", req, body, enc, err)
			}
			enc2, _ := json.Marshal(again)
			if string(enc) != string(enc2) {
				t.Fatalf("%T round trip changed %s into %s", req, enc, enc2)
			}
		}
	})
}
