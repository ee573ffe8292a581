package submission

import (
	"github.com/emersion/go-sasl"
)

// loginMechanism is the name of the obsolete but widespread LOGIN SASL
// mechanism (draft-murchison-sasl-login). go-sasl ships only its client.
const loginMechanism = "LOGIN"

// loginServer is the server side of AUTH LOGIN: the server asks for the user
// name, then the password, each in a 334 challenge; some clients send the
// user name as an initial response (AUTH LOGIN dXNlcg==) and skip the first.
type loginServer struct {
	step         int // 0: start, 1: want user, 2: want password, 3: done
	user         string
	authenticate sasl.PlainAuthenticator
}

var _ sasl.Server = (*loginServer)(nil)

func newLoginServer(authenticate sasl.PlainAuthenticator) *loginServer {
	return &loginServer{authenticate: authenticate}
}

// Next implements sasl.Server. The challenges are the customary
// "Username:" and "Password:" (go-smtp base64-encodes them).
func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		if response == nil {
			l.step = 1
			return []byte("Username:"), false, nil
		}
		l.user = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 1:
		l.user = string(response)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.authenticate("", l.user, string(response))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}
