package dkim_test

import (
	"crypto"
	"strings"
	"testing"
	"time"

	msgauth "github.com/emersion/go-msgauth/dkim"

	"github.com/outbox-mta/outbox/delivery/dkim"
)

// canonCases are messages whose canonical forms are easy to get wrong:
// whitespace runs and trailing whitespace, empty lines at the end, bare LF
// and bare CR, no final line break, an empty body, folded and repeated
// header fields, a field without a value, names in odd case.
var canonCases = map[string]string{
	"plain":        "From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello.\r\n",
	"whitespace":   "From:  a@example.com \t\r\nSubject:\tx   y \r\n\r\n  lead\t and   runs \t\r\n\t\r\nend  \r\n",
	"empty lines":  "From: a@example.com\r\n\r\nbody\r\n\r\n\r\n \r\n\t\r\n",
	"bare LF":      "From: a@example.com\r\nSubject: lf\nX: y\r\n\r\nline one\nline two\n\n\n",
	"bare CR":      "From: a@example.com\r\n\r\na\rb\r\r\nc \r \r\n",
	"no final":     "From: a@example.com\r\n\r\nno line break at the end",
	"empty body":   "From: a@example.com\r\nSubject: e\r\n\r\n",
	"only breaks":  "From: a@example.com\r\n\r\n\r\n\r\n",
	"folded":       "From: a@example.com\r\nSubject: one\r\n two\r\n\tthree \r\nTo: x@example.net,\r\n  y@example.net\r\n\r\nb\r\n",
	"repeated":     "From: a@example.com\r\nTo: first@example.net\r\nsubject: s\r\nTO : second@example.net\r\n\r\nb\r\n",
	"empty value":  "From: a@example.com\r\nSubject:\r\nCc:   \r\n\r\nb\r\n",
	"header split": "From: a@example.com\r\nX: y\r\n\r\n\r\nbody after an empty line\r\n",
}

// TestCanonMatchesGoMsgauth signs each case with Keys and with go-msgauth's
// own Signer (the same key, options and h= list) and wants the very same
// DKIM-Signature field: Ed25519 signatures are deterministic, so equal
// fields mean equal body and header hashes. Both must verify.
func TestCanonMatchesGoMsgauth(t *testing.T) {
	_, ed := keys(t)
	k, err := dkim.NewKeys([]dkim.Domain{{Name: "example.com", Keys: []dkim.Key{{Selector: "ed1", Signer: ed}}}}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := dnsFor(t, "example.com", map[string]crypto.Signer{"ed1": ed})
	for name, msg := range canonCases {
		t.Run(name, func(t *testing.T) {
			var ours string
			for try := 0; ; try++ {
				sec := time.Now().Unix()
				ours, _ = signMessage(t, k, msg)
				theirs := signGoMsgauth(t, ed, msg, ours)
				if time.Now().Unix() != sec && try < 3 {
					continue // t= may differ: the second changed
				}
				if got, want := ours[:len(ours)-len(msg)], theirs; got != want {
					t.Errorf("signature\n got %q\nwant %q", got, want)
				}
				break
			}
			if got := verify(t, ours, lookup); len(got) != 1 {
				t.Errorf("verified %v, want one signature", got)
			}
		})
	}
}

// signGoMsgauth signs msg with go-msgauth, with the h= list of the field
// signed (our own signature's).
func signGoMsgauth(t *testing.T, key crypto.Signer, msg, signed string) string {
	t.Helper()
	_, rest, _ := strings.Cut(signed, " h=")
	h, _, _ := strings.Cut(rest, ";")
	s, err := msgauth.NewSigner(&msgauth.SignOptions{
		Domain: "example.com", Selector: "ed1", Signer: key,
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		HeaderKeys:             strings.Split(strings.ReplaceAll(h, "\r\n ", ""), ":"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return s.Signature()
}
