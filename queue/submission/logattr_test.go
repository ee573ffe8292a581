package submission

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestWordList: a wordList attribute logs exactly as the []string it
// holds, with the text and the JSON handler.
func TestWordList(t *testing.T) {
	for _, l := range [][]string{nil, {}, {"a@x.test"}, {"a@x.test", "b c@y.test", `q"@z`}} {
		for _, json := range []bool{false, true} {
			var plain, words bytes.Buffer
			logger := func(b *bytes.Buffer) *slog.Logger {
				opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
					if a.Key == slog.TimeKey {
						return slog.Attr{}
					}
					return a
				}}
				if json {
					return slog.New(slog.NewJSONHandler(b, opts))
				}
				return slog.New(slog.NewTextHandler(b, opts))
			}
			logger(&plain).Info("accepted", "rcpts", l)
			logger(&words).Info("accepted", "rcpts", wordList(l))
			if plain.String() != words.String() {
				t.Errorf("json %v: %q, want %q", json, words.String(), plain.String())
			}
		}
	}
}
