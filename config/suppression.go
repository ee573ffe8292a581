package config

// Suppression is the suppression list ([suppression]): addresses mail is
// not attempted to. Entries are added automatically (a permanent "no such
// mailbox" refusal at RCPT, or repeated expirations), by hand with
// `outbox suppressions add` or POST /v1/suppressions, and removed with
// `outbox suppressions remove` or DELETE /v1/suppressions/ADDRESS.
type Suppression struct {
	// Enabled consults the list before each delivery attempt and adds
	// entries from outcomes. When false the list is kept but neither
	// consulted nor taught. Default: true.
	Enabled bool `toml:"enabled"`
	// AfterExpirations lists an address once this many consecutive
	// messages to it were given up as expired (a delivery resets the
	// count). 0: never. Default: 3.
	AfterExpirations int `toml:"after_expirations"`
	// Expiry is how long an automatically added entry lasts; "0s": until
	// removed (or the address is delivered to after all, by a message
	// sent with ignore_suppressions). Default: 30d.
	Expiry Duration `toml:"expiry"`
}

func (c *Config) validateSuppression(ps *problems) {
	if c.Suppression.AfterExpirations < 0 {
		ps.add("suppression.after_expirations", "must not be negative (0 turns it off)")
	}
	if msg := c.Suppression.Expiry.check(true); msg != "" {
		ps.add("suppression.expiry", "%s", msg)
	}
}
