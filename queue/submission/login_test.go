package submission

import (
	"errors"
	"testing"

	"github.com/emersion/go-sasl"
)

func TestLoginServer(t *testing.T) {
	errBad := errors.New("bad")
	check := func(identity, user, pass string) error {
		if identity != "" || user != "alice" || pass != "secret" {
			return errBad
		}
		return nil
	}
	type step struct {
		resp      []byte // nil: no (initial) response
		challenge string
		done      bool
		err       error
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"challenges for both", []step{
			{nil, "Username:", false, nil},
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
		}},
		{"user as initial response", []step{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
		}},
		{"wrong password", []step{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("guess"), "", true, errBad},
		}},
		{"empty initial response is an empty user", []step{
			{[]byte{}, "Password:", false, nil},
			{[]byte("secret"), "", true, errBad},
		}},
		{"response after done", []step{
			{[]byte("alice"), "Password:", false, nil},
			{[]byte("secret"), "", true, nil},
			{[]byte("more"), "", false, sasl.ErrUnexpectedClientResponse},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLoginServer(check)
			for i, st := range tt.steps {
				ch, done, err := l.Next(st.resp)
				if string(ch) != st.challenge || done != st.done || !errors.Is(err, st.err) {
					t.Fatalf("step %d: Next(%q) = %q, %v, %v; want %q, %v, %v",
						i, st.resp, ch, done, err, st.challenge, st.done, st.err)
				}
			}
		})
	}
}
