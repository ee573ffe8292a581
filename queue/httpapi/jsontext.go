package httpapi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonText is a string field that is most of a request (text, html),
// decoded as encoding/json decodes a string into the same string with one
// allocation instead of two: encoding/json unquotes a string with escapes
// (every line end of a text is one) into a buffer of its own and copies
// that into the string, byte by byte; here runs without escapes are
// copied whole into the string being built.
type jsonText string

// UnmarshalJSON decodes a JSON string (RFC 8259 §7) as encoding/json does:
// the escapes decoded, a lone UTF-16 surrogate and every octet that is not
// UTF-8 turned into U+FFFD; null leaves the text as it is. Anything else
// is the type error encoding/json reports for a string field.
func (t *jsonText) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	if len(data) < 2 || data[0] != '"' || data[len(data)-1] != '"' {
		return &json.UnmarshalTypeError{Value: jsonKind(data), Type: reflect.TypeFor[string]()}
	}
	s, ok := unquoteJSON(data[1 : len(data)-1])
	if !ok {
		return &json.UnmarshalTypeError{Value: "string", Type: reflect.TypeFor[string]()}
	}
	*t = jsonText(s)
	return nil
}

// jsonKind names a JSON value's kind as encoding/json's type errors do.
func jsonKind(data []byte) string {
	switch {
	case len(data) == 0:
		return "value"
	case data[0] == '[':
		return "array"
	case data[0] == '{':
		return "object"
	case data[0] == 't' || data[0] == 'f':
		return "bool"
	}
	return "number"
}

// unquoteJSON decodes the contents of a JSON string literal, which the
// decoder has already checked to be one.
func unquoteJSON(s []byte) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\\')
		run := s
		if i >= 0 {
			run = s[:i]
		}
		writeUTF8(&b, run)
		if i < 0 {
			break
		}
		s = s[i:]
		if len(s) < 2 {
			return "", false
		}
		switch c := s[1]; c {
		case '"', '\\', '/':
			b.WriteByte(c)
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r := hex4(s)
			if r < 0 {
				return "", false
			}
			s = s[6:]
			if utf16.IsSurrogate(r) {
				if pair := utf16.DecodeRune(r, hex4(s)); pair != unicode.ReplacementChar {
					b.WriteRune(pair)
					s = s[6:]
					continue
				}
				r = unicode.ReplacementChar
			}
			b.WriteRune(r)
			continue
		default:
			return "", false
		}
		s = s[2:]
	}
	return b.String(), true
}

// writeUTF8 writes run with every octet that does not begin a UTF-8
// sequence turned into U+FFFD.
func writeUTF8(b *strings.Builder, run []byte) {
	if utf8.Valid(run) {
		b.Write(run)
		return
	}
	for len(run) > 0 {
		r, n := utf8.DecodeRune(run)
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.Write(run[:n])
		}
		run = run[n:]
	}
}

// hex4 is the code unit of a \uXXXX escape at the start of s, or -1.
func hex4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}
