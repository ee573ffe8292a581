package delivery

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// ErrNoAuthMechanism is returned when a relay server offers no mechanism we
// may use: none in common, or only PLAIN/LOGIN on a connection that is not
// encrypted while the relay's TLS mode is not explicitly "none".
var ErrNoAuthMechanism = errors.New("delivery: no usable AUTH mechanism offered")

// chooseAuth picks the strongest mechanism the server offers (the Tcl smtp
// package's "strongest first"): CRAM-MD5, which never reveals the password,
// then PLAIN, then LOGIN. PLAIN and LOGIN send the password in clear, so they
// are allowed only over TLS, or when the operator explicitly configured the
// relay with TLS mode "none" (clearAllowed).
//
// offered is the parameter of the EHLO AUTH keyword ("PLAIN LOGIN CRAM-MD5").
func chooseAuth(offered string, encrypted, clearAllowed bool) (string, error) {
	has := map[string]bool{}
	for _, m := range strings.Fields(offered) {
		has[strings.ToUpper(m)] = true
	}
	if has["CRAM-MD5"] {
		return "CRAM-MD5", nil
	}
	if encrypted || clearAllowed {
		for _, m := range []string{"PLAIN", "LOGIN"} {
			if has[m] {
				return m, nil
			}
		}
	}
	return "", ErrNoAuthMechanism
}

// saslClient builds the go-sasl client for mech. go-sasl has PLAIN and LOGIN
// clients but no CRAM-MD5 one.
func saslClient(mech, user, pass string) sasl.Client {
	switch mech {
	case "CRAM-MD5":
		return &cramMD5Client{user: user, pass: pass}
	case "LOGIN":
		return sasl.NewLoginClient(user, pass)
	}
	return sasl.NewPlainClient("", user, pass)
}

// cramMD5Client implements CRAM-MD5 (RFC 2195): the response to the
// challenge is "user hex(HMAC-MD5(password, challenge))".
type cramMD5Client struct {
	user, pass string
	done       bool
}

func (c *cramMD5Client) Start() (string, []byte, error) {
	return "CRAM-MD5", nil, nil
}

func (c *cramMD5Client) Next(challenge []byte) ([]byte, error) {
	if c.done {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	c.done = true
	mac := hmac.New(md5.New, []byte(c.pass))
	mac.Write(challenge)
	return []byte(c.user + " " + hex.EncodeToString(mac.Sum(nil))), nil
}
