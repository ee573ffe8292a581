package submission

import (
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func mustHash(t testing.TB, pass string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestUsers(t *testing.T) {
	u, err := NewUsers(map[string]string{"alice": mustHash(t, "secret")})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user, pass string
		want       error
	}{
		{"alice", "secret", nil},
		{"alice", "Secret", ErrBadCredentials},
		{"alice", "", ErrBadCredentials},
		{"bob", "secret", ErrBadCredentials},
		{"", "", ErrBadCredentials},
	}
	for _, tt := range tests {
		if err := u.Authenticate(tt.user, tt.pass); !errors.Is(err, tt.want) {
			t.Errorf("Authenticate(%q, %q) = %v, want %v", tt.user, tt.pass, err, tt.want)
		}
	}
}

func TestNewUsersReportsEveryBadHash(t *testing.T) {
	_, err := NewUsers(map[string]string{"alice": "plain", "bob": "$2a$xx", "carol": mustHash(t, "x")})
	if err == nil {
		t.Fatal("NewUsers accepted invalid hashes")
	}
	for _, name := range []string{`"alice"`, `"bob"`} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name user %s", err, name)
		}
	}
	if strings.Contains(err.Error(), "carol") {
		t.Errorf("error %q names a valid user", err)
	}
}
