package submission

import (
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"

	"golang.org/x/crypto/bcrypt"
)

// Authenticator checks a user name and password. Any error means the
// credentials are refused (535 5.7.8); the error is logged, never shown to
// the client, and must not contain the password.
type Authenticator interface {
	Authenticate(user, pass string) error
}

// ErrBadCredentials is returned by Users.Authenticate for an unknown user or
// a wrong password; the two are deliberately indistinguishable.
var ErrBadCredentials = errors.New("submission: bad credentials")

// Users authenticates against a fixed table of bcrypt hashes, as configured.
type Users struct {
	hashes map[string][]byte
	// dummy is compared against for unknown users so that the reply takes
	// about as long as for a known user with a wrong password and does not
	// reveal which user names exist.
	dummy []byte
}

var _ Authenticator = (*Users)(nil)

// NewUsers builds a Users from user name → bcrypt hash ("$2a$..."/"$2b$...",
// as printed by `outbox passwd`). Every invalid hash is reported, by user.
func NewUsers(hashes map[string]string) (*Users, error) {
	u := &Users{hashes: make(map[string][]byte, len(hashes))}
	// The dummy costs as much as the most expensive real hash, so an
	// unknown user takes as long as a known one.
	cost := bcrypt.MinCost
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(hashes)) {
		h := []byte(hashes[name])
		c, err := bcrypt.Cost(h)
		if err != nil {
			errs = append(errs, fmt.Errorf("user %q: invalid bcrypt hash: %w", name, err))
			continue
		}
		cost = max(cost, c)
		u.hashes[name] = h
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// A random password nobody can know; only its hashing time matters.
	dummy, err := bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
	if err != nil {
		return nil, fmt.Errorf("submission: dummy hash: %w", err)
	}
	u.dummy = dummy
	return u, nil
}

// Authenticate implements Authenticator.
func (u *Users) Authenticate(user, pass string) error {
	h, ok := u.hashes[user]
	if !ok {
		_ = bcrypt.CompareHashAndPassword(u.dummy, []byte(pass))
		return ErrBadCredentials
	}
	if bcrypt.CompareHashAndPassword(h, []byte(pass)) != nil {
		return ErrBadCredentials
	}
	return nil
}
