package config

import (
	"encoding/hex"
	"net"
	"net/netip"
	"strconv"
)

// API is the HTTP submission API ([api]): applications post messages as
// JSON to /v1/messages.
type API struct {
	// Address is host:port of the API's HTTP listener. "" turns the API
	// off. A non-loopback address requires TLS, since requests carry API
	// keys. Default: "127.0.0.1:8587".
	Address string `toml:"address"`
	// TLS serves HTTPS with the certificate of tls.cert_file and
	// tls.key_file. Default: false.
	TLS bool `toml:"tls"`
	// TrustLoopback lets clients on a loopback address (127.0.0.0/8, ::1)
	// post without a key, the same trust as the loopback entries of
	// trusted_networks for SMTP. Default: true.
	TrustLoopback bool `toml:"trust_loopback"`
	// Rate is how many requests per second each API key (and the trusted
	// loopback, as one client) may make, sustained; over it the answer is
	// 429. 0: no limit. Default: 50.
	Rate float64 `toml:"rate"`
	// Burst is how many requests a key may make at once above Rate.
	// Default: 100.
	Burst int `toml:"burst"`
	// IdempotencyRetention is how long an Idempotency-Key (and an SMTP
	// submission's Outbox-Idempotency-Key field) is remembered (in the
	// spool, pruned by the cron prune job): a retry within it gets the
	// first answer and spools nothing. Default: 24h.
	IdempotencyRetention Duration `toml:"idempotency_retention"`
	// MaxConnections is the most HTTP connections served at once; more
	// wait in the listen backlog. Default: 200.
	MaxConnections int `toml:"max_connections"`
	// ReadTimeout bounds reading one whole request. Default: 5m.
	ReadTimeout Duration `toml:"read_timeout"`
	// WriteTimeout bounds writing one answer, the spool commit included.
	// Default: 1m.
	WriteTimeout Duration `toml:"write_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long.
	// Default: 2m.
	IdleTimeout Duration `toml:"idle_timeout"`
	// Keys are the API keys ([[api.keys]]), created with `outbox api-key
	// create`, which prints the secret once. Reloaded on SIGHUP.
	// Default: none (only trusted loopback clients may post).
	Keys []APIKey `toml:"keys"`
}

// APIKey is one API key, known only by the hash of its secret.
type APIKey struct {
	// Name identifies the key in logs and in each message's user. Required,
	// unique.
	Name string `toml:"name"`
	// Hash is the hex SHA-256 of the secret, as printed by `outbox api-key
	// create`. Required.
	Hash string `toml:"hash"`
	// IgnoreSuppressions sends every message posted with this key to its
	// recipients even when they are on the suppression list (as the
	// request field ignore_suppressions does). Default: false.
	IgnoreSuppressions bool `toml:"ignore_suppressions"`
}

func (c *Config) validateAPI(ps *problems) {
	a := c.API
	seen := map[string]bool{}
	for i, k := range a.Keys {
		key := "api.keys[" + strconv.Itoa(i) + "]"
		switch {
		case k.Name == "":
			ps.add(key+".name", "must be set")
		case seen[k.Name]:
			ps.add(key+".name", "%q is used by another key", k.Name)
		}
		seen[k.Name] = true
		if b, err := hex.DecodeString(k.Hash); err != nil || len(b) != 32 {
			ps.add(key+".hash", "must be the 64 hex digits printed by `outbox api-key create`")
		}
	}
	if a.Address == "" {
		return
	}
	if msg := checkHostPort(a.Address, true); msg != "" {
		ps.add("api.address", "%s", msg)
		return
	}
	if a.TLS && (c.TLS.CertFile == "" || c.TLS.KeyFile == "") {
		ps.add("api.tls", "needs tls.cert_file and tls.key_file")
	}
	host, _, _ := net.SplitHostPort(a.Address)
	if ip, err := netip.ParseAddr(host); (err != nil || !ip.IsLoopback()) && !a.TLS {
		ps.add("api.address", "%q is not a loopback address (127.0.0.0/8 or ::1): API keys would cross the network in clear; set api.tls = true", a.Address)
	}
	if a.Rate < 0 {
		ps.add("api.rate", "must not be negative")
	}
	if a.Burst < 1 {
		ps.add("api.burst", "must be at least 1")
	}
	if a.MaxConnections < 1 {
		ps.add("api.max_connections", "must be at least 1")
	}
	positive(ps, "api.idempotency_retention", a.IdempotencyRetention)
	positive(ps, "api.read_timeout", a.ReadTimeout)
	positive(ps, "api.write_timeout", a.WriteTimeout)
	positive(ps, "api.idle_timeout", a.IdleTimeout)
}
