package httpapi

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestDecodeJSONOneAfterAnother: requests decoded one after the other, as
// a pooled decoder serves them, are each decoded alone: neither a
// request's trailing white space, nor the rest of one refused, reaches
// the next.
func TestDecodeJSONOneAfterAnother(t *testing.T) {
	var p pools
	for i, c := range []struct {
		body, from string
		ok         bool
	}{
		{`{"from":"a@x"}` + "\n \t\r\n", "a@x", true},
		{`{"from":"b@x","text":`, "", false},
		{`{"from":"c@x"}}`, "", false},
		{`{"from":"d@x"}`, "d@x", true},
		{`{"from":"e@x"}]`, "", false},
		{`{"from":"f@x"} {"from":"g@x"}`, "", false},
		{`  {"to":["h@x"]}`, "", true},
		{`{"from":"i@x","colour":"red"}`, "", false},
		{`{"from":"j@x"}`, "j@x", true},
	} {
		req, err := p.decodeJSON(strings.NewReader(c.body))
		switch {
		case c.ok && err != nil:
			t.Errorf("request %d %q: %v", i, c.body, err)
		case !c.ok && err == nil:
			t.Errorf("request %d %q: decoded %+v, want an error", i, c.body, req)
		case c.ok && req.From != c.from:
			t.Errorf("request %d %q: from %q, want %q", i, c.body, req.From, c.from)
		}
	}
}

// TestJSONMediaType: a JSON body is recognised by its media type in any
// case, with or without parameters (RFC 2045 §5.1); another type is 415.
func TestJSONMediaType(t *testing.T) {
	a := newTestAPI(t, nil)
	body := `{"from":"a@example.com","to":["b@example.org"],"text":"x"}`
	for ct, want := range map[string]int{
		"application/json":                202,
		"Application/JSON":                202,
		"application/json; charset=utf-8": 202,
		"application/jsonx":               415,
		"text/json":                       415,
		"":                                415,
	} {
		if status, resp := a.postForm(t, ct, strings.NewReader(body), ""); status != want {
			t.Errorf("Content-Type %q: %d %s, want %d", ct, status, resp, want)
		}
	}
}

// TestPostJSONStrictness: member names match in any case, as they always
// did; a member given twice and invalid UTF-8 are refused (RFC 8259 §4,
// §8.1) rather than decoded by a guess, and every refusal of a member
// names it as the API spells fields.
func TestPostJSONStrictness(t *testing.T) {
	a := newTestAPI(t, nil)
	cases := []struct {
		name, body string
		status     int
		field      string
	}{
		{"names in any case", `{"FROM":"a@example.com","To":["b@example.org"],"Text":"x"}`, 202, ""},
		{"member twice", `{"from":"a@example.com","to":["b@example.org"],"text":"x","from":"c@example.com"}`, 400, "from"},
		{"member twice in another case", `{"from":"a@example.com","to":["b@example.org"],"text":"x","From":"c@example.com"}`, 400, "From"},
		{"invalid UTF-8", "{\"from\":\"a@example.com\",\"to\":[\"b@example.org\"],\"subject\":\"\xff\",\"text\":\"x\"}", 400, "subject"},
		{"unknown nested member", `{"from":"a@example.com","to":["b@example.org"],"attachments":[{"filename":"f","content":"eA==","colour":"red"}]}`, 400, "attachments[0].colour"},
		{"nested wrong type", `{"from":"a@example.com","to":["b@example.org"],"attachments":[{"filename":"f","content":1}]}`, 400, "attachments[0].content"},
		{"wrong type in a map", `{"from":"a@example.com","to":["b@example.org"],"text":"x","headers":{"0":1}}`, 400, "headers.0"},
		{"cut off", `{"from":"a@example.com","to":["b@example.org"],"text":"x`, 400, "text"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := a.post(t, c.body, "")
			if field, _ := out["field"].(string); status != c.status || field != c.field {
				t.Errorf("got %d %v, want %d field %q", status, out, c.status, c.field)
			}
		})
	}
	if n := a.count(t); n != 1 {
		t.Errorf("%d messages spooled, want the one accepted", n)
	}
}

// FuzzDecodeJSON: any body decodes or is refused without a panic; what
// decodes, encoded again (encoding/json, as the idempotency hash is), is
// accepted again as the same request.
func FuzzDecodeJSON(f *testing.F) {
	f.Add(`{"from":"a@x","to":["b@y"],"subject":"s","text":"t\r\n"}`)
	f.Add(`{"FROM":"a@x","headers":{"X-A":"1"},"metadata":{"0":"v"}}`)
	f.Add(`{"attachments":[{"filename":"f","content":"AAA="}],"at_least_one":true}`)
	f.Add(`{"from":"a","from":"b"}`)
	f.Add("{\"text\":\"\xff\"}")
	f.Fuzz(func(t *testing.T, body string) {
		var p pools
		req, err := p.decodeJSON(strings.NewReader(body))
		if err != nil {
			return
		}
		again, err := stdjson.Marshal(req)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", req, err)
		}
		req2, err := p.decodeJSON(bytes.NewReader(again))
		if err != nil {
			t.Fatalf("%s decoded, its re-encoding %s is refused: %v", body, again, err)
		}
		if !reflect.DeepEqual(req, req2) {
			t.Fatalf("%s: %+v decodes again as %+v", body, req, req2)
		}
	})
}
