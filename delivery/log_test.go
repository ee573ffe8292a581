package delivery

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

// TestRcptOutcomesLogged: recipients are one attribute, an array in JSON
// and one value in text, never a key per address.
func TestRcptOutcomesLogged(t *testing.T) {
	rs := rcptOutcomes{
		{Rcpt: "a@example.org", Status: "delivered", Reply: "250 2.0.0 OK"},
		{Rcpt: "b@example.org", Status: "deferred", Reply: "451 4.3.0 later"},
	}
	var jb bytes.Buffer
	slog.New(slog.NewJSONHandler(&jb, nil)).Info("delivery attempt", "rcpts", rs)
	var line struct {
		Rcpts []rcptOutcome `json:"rcpts"`
	}
	if err := json.Unmarshal(jb.Bytes(), &line); err != nil || len(line.Rcpts) != 2 || line.Rcpts[1] != rs[1] {
		t.Errorf("JSON line %s: %+v, %v", jb.Bytes(), line, err)
	}
	var tb bytes.Buffer
	slog.New(slog.NewTextHandler(&tb, nil)).Info("delivery attempt", "rcpts", rs)
	want := `rcpts="a@example.org delivered 250 2.0.0 OK; b@example.org deferred 451 4.3.0 later"`
	if got := tb.String(); !strings.Contains(got, want) || strings.Contains(got, "rcpt.") {
		t.Errorf("text line %q, want %s", got, want)
	}
}
