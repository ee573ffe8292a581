package httpapi

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzJSONText: a jsonText decodes any JSON value to the string, or the
// error, that encoding/json makes of it for a string field.
func FuzzJSONText(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\r\nb\n"`, `"\u00e9\ud83d\ude00"`, `"\ud800x"`, `"\udc00\ud800"`,
		`"\ud83d\u0041"`, "\"\xff\xfe ok \xed\xa0\x80\"", `"\"\\\/\b\f\t"`, `null`, `5`, `true`, `[1]`, `{"a":1}`, `"\u12"`, `""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		doc := []byte(`{"t":` + v + `}`)
		var want struct{ T string }
		var got struct{ T jsonText }
		errWant := json.Unmarshal(doc, &want)
		errGot := json.Unmarshal(doc, &got)
		if (errWant == nil) != (errGot == nil) {
			t.Fatalf("%q: error %v, encoding/json %v", v, errGot, errWant)
		}
		var te, tw *json.UnmarshalTypeError
		if errors.As(errWant, &tw) {
			if !errors.As(errGot, &te) || te.Field != tw.Field || te.Value != tw.Value || te.Type != tw.Type {
				t.Fatalf("%q: error %#v, encoding/json %#v", v, errGot, errWant)
			}
		}
		if errWant == nil && string(got.T) != want.T {
			t.Fatalf("%q: %q, encoding/json %q", v, got.T, want.T)
		}
	})
}
