package tlspolicy

// Level is the TLS a destination has shown: the downgrade memory keeps the
// best one per domain and refuses a session below it (a stripped STARTTLS
// or a swapped certificate looks exactly like a drop).
type Level uint8

// Levels, weakest first.
const (
	LevelPlain     Level = iota // no TLS
	LevelEncrypted              // TLS, certificate not verified
	LevelVerified               // TLS with a verified certificate (WebPKI, MTA-STS or DANE)
)

func (l Level) String() string {
	switch l {
	case LevelEncrypted:
		return "encrypted"
	case LevelVerified:
		return "verified"
	}
	return "plain"
}

// LevelOf is the level an attempt's Outcome shows.
func LevelOf(o Outcome) Level {
	switch {
	case !o.Encrypted():
		return LevelPlain
	case o.VerifiedBy != VerifiedNone:
		return LevelVerified
	}
	return LevelEncrypted
}
