package httpapi

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

var optNow = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// A scheduled message is stored due at its time, with its expiry, tags
// and metadata; its lifetime then counts from that time (queue).
func TestPostOptions(t *testing.T) {
	a := newTestAPI(t, func(o *Options) { o.Now = func() time.Time { return optNow } })
	at := optNow.Add(2 * time.Hour)
	status, out := a.post(t, `{"from":"a@example.com","to":["b@example.org"],"text":"x",
		"deliver_after":"`+at.Format(time.RFC3339)+`","expire_at":"2030-01-03T00:00:00Z",
		"tags":["welcome","signup"],"metadata":{"user":"42"}}`, "")
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %v", status, out)
	}
	m, _ := a.stored(t, out["id"].(string))
	if !m.DeliverAfter.Equal(at) || !m.Recipients[0].NextAttempt.Equal(at) {
		t.Errorf("deliver_after %v, next attempt %v, want %v", m.DeliverAfter, m.Recipients[0].NextAttempt, at)
	}
	if want := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC); !m.ExpireAt.Equal(want) {
		t.Errorf("expire_at %v, want %v", m.ExpireAt, want)
	}
	if strings.Join(m.Tags, ",") != "welcome,signup" || len(m.Metadata) != 1 || m.Metadata["user"] != "42" {
		t.Errorf("tags %q metadata %v", m.Tags, m.Metadata)
	}

	// A time in the past means at once.
	status, out = a.post(t, `{"from":"a@example.com","to":["b@example.org"],"text":"x","deliver_after":"2000-01-01T00:00:00Z"}`, "")
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %v", status, out)
	}
	if m, _ := a.stored(t, out["id"].(string)); !m.DeliverAfter.IsZero() || !m.Recipients[0].NextAttempt.Equal(optNow) {
		t.Errorf("past deliver_after: %v, next %v", m.DeliverAfter, m.Recipients[0].NextAttempt)
	}
}

func TestPostOptionRefusals(t *testing.T) {
	a := newTestAPI(t, func(o *Options) { o.Now = func() time.Time { return optNow } })
	msg := `"from":"a@example.com","to":["b@example.org"],"text":"x",`
	long := strings.Repeat("t", maxTagLen+1)
	cases := []struct{ name, body, field string }{
		{"bad time", `{` + msg + `"deliver_after":"tomorrow"}`, "deliver_after"},
		{"too far ahead", `{` + msg + `"deliver_after":"2030-03-01T00:00:00Z"}`, "deliver_after"},
		{"expired already", `{` + msg + `"expire_at":"2029-01-01T00:00:00Z"}`, "expire_at"},
		{"expires before its schedule", `{` + msg + `"deliver_after":"2030-01-05T00:00:00Z","expire_at":"2030-01-04T00:00:00Z"}`, "expire_at"},
		{"long tag", `{` + msg + `"tags":["` + long + `"]}`, "tags"},
		{"empty tag", `{` + msg + `"tags":[""]}`, "tags"},
		{"tag with a space", `{` + msg + `"tags":["a b"]}`, "tags"},
		{"too many tags", `{` + msg + `"tags":["a"` + strings.Repeat(`,"a"`, maxTags) + `]}`, "tags"},
		{"long metadata value", `{` + msg + `"metadata":{"k":"` + strings.Repeat("v", maxMetadataValue+1) + `"}}`, "metadata.k"},
		{"bad metadata key", `{` + msg + `"metadata":{"a\nb":"v"}}`, "metadata.a\nb"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, out := a.post(t, c.body, "")
			if status != http.StatusBadRequest || out["field"] != c.field {
				t.Errorf("got %d %v, want 400 field %q", status, out, c.field)
			}
		})
	}
	if n := a.count(t); n != 0 {
		t.Errorf("%d messages spooled by refused requests", n)
	}
}

// Options.MaxHold bounds the schedule; negative turns scheduling off.
func TestPostMaxHold(t *testing.T) {
	body := `{"from":"a@example.com","to":["b@example.org"],"text":"x","deliver_after":"2030-01-03T03:04:05Z"}`
	for _, tt := range []struct {
		hold   time.Duration
		status int
	}{{48 * time.Hour, http.StatusAccepted}, {12 * time.Hour, http.StatusBadRequest}, {-1, http.StatusBadRequest}} {
		a := newTestAPI(t, func(o *Options) { o.Now = func() time.Time { return optNow }; o.MaxHold = tt.hold })
		if status, out := a.post(t, body, ""); status != tt.status {
			t.Errorf("MaxHold %v: %d %v, want %d", tt.hold, status, out, tt.status)
		}
	}
}
