package config

import "net/netip"

// Config is the whole configuration of the daemon. Every field says what
// it means, its unit and its default; the defaults themselves live in
// Default. The TOML key of each field is in its tag.
type Config struct {
	// Hostname is this host's name: sent in EHLO on outbound sessions, in
	// the submission greeting, and in the Received header added to every
	// accepted message. Default: os.Hostname().
	Hostname string `toml:"hostname"`

	// TrustedNetworks may submit without AUTH (key trusted_networks, a list
	// of CIDR strings). Every other client must authenticate, over TLS.
	// Default: ["127.0.0.0/8", "::1/128"] (loopback only).
	TrustedNetworks []netip.Prefix `toml:"-"`

	Spool    Spool    `toml:"spool"`
	Admin    Admin    `toml:"admin"`
	TLS      TLS      `toml:"tls"`
	Listen   Listen   `toml:"listen"`
	Users    []User   `toml:"users"` // [[users]]; default none: only trusted networks may submit
	Limits   Limits   `toml:"limits"`
	Delivery Delivery `toml:"delivery"`
	Metrics  Metrics  `toml:"metrics"`
	Log      Log      `toml:"log"`
	API      API      `toml:"api"`
	Cron     Cron     `toml:"cron"`
	DKIM     DKIM     `toml:"dkim"`
	// TLSReports: SMTP TLS reporting, RFC 8460 (tlsreports.go).
	TLSReports TLSReports `toml:"tls_reports"`

	Suppression Suppression `toml:"suppression"`
	// Webhooks receive the delivery events ([[webhooks]], webhooks.go).
	// Default: none.
	Webhooks []Webhook `toml:"webhooks"`

	// Relays are the smarthosts, by name ([relay.NAME]); routes refer to
	// them. Default: none.
	Relays map[string]Relay `toml:"relay"`

	// Routes maps a recipient domain, lower case, to the name of a relay or
	// to "direct" (MX delivery). "*" matches every domain without a route of
	// its own. Domains match exactly, not their subdomains. In TOML the
	// domain must be quoted: "example.org" = "provider". Default: none, so
	// everything is delivered direct to MX.
	Routes map[string]string `toml:"routes"`

	// Shaping are per-destination budgets ([[shaping]], shaping.go),
	// matched before the built-in presets. Default: none.
	Shaping []ShapingRule `toml:"shaping"`
	// ThrottleReplies are "slow down" replies ([[throttle_reply]]),
	// matched before the built-in table. Default: none.
	ThrottleReplies []ThrottleReply `toml:"throttle_reply"`
}

// Spool is the durable queue on disk.
type Spool struct {
	// Dir holds the bbolt file and large message bodies; created if
	// missing. Default: "./outbox-spool", relative to the working directory.
	Dir string `toml:"dir"`
	// LockTimeout is how long opening the spool waits for another process's
	// lock on the file before failing (bbolt's own default waits forever).
	// Default: 1s.
	LockTimeout Duration `toml:"lock_timeout"`
	// Retention is how long a message whose recipients are all final
	// (delivered or bounced) stays readable with `outbox queue show` before
	// it is pruned. Default: 7d.
	Retention Duration `toml:"retention"`
	// BounceRetention is how long bounce log entries are kept. Default: 30d.
	BounceRetention Duration `toml:"bounce_retention"`
	// EventRetention is how long entries of the event log (GET
	// /v1/events, `outbox events`) are kept. Default: 30d.
	EventRetention Duration `toml:"event_retention"`
	// Backend is where the spool lives: "bbolt" (the file in Dir) or
	// "postgres" (the database at PostgresURL, which several Outbox nodes
	// may share; Dir then holds only the admin socket and bodies while
	// they stream in). Default: "bbolt".
	Backend string `toml:"backend"`
	// PostgresURL is the database of the "postgres" backend, a
	// postgres:// URL or a libpq key=value string. It may carry a
	// password and is never logged. Default: "".
	PostgresURL string `toml:"postgres_url"`
	// Lease is how long a node of the "postgres" backend keeps a message
	// it claimed without renewing the claim (it renews every third of
	// it): the time after which the messages of a node that died are
	// delivered by the others. Default: 2m.
	Lease Duration `toml:"lease"`
}

// Admin is the control socket the CLI talks to.
type Admin struct {
	// Socket is the path of the Unix socket of the admin interface, created
	// with mode 0600. Default: "" meaning "admin.sock" inside Spool.Dir
	// (Load fills it in).
	Socket string `toml:"socket"`
	// Group names a group whose members may use every CLI verb without
	// sudo: the socket becomes mode 0660 with this group, and the daemon
	// checks each request's peer credentials (SO_PEERCRED). The daemon's
	// user must belong to it. Default: "" (root and the daemon's user only).
	Group string `toml:"group"`
	// ReadOnlyGroup names a group whose members may use the read-only
	// verbs only (queue list, show, cat, stats, bounces). With Group set
	// too, the socket is mode 0666 and the daemon refuses everyone else by
	// their credentials. Default: "" (none).
	ReadOnlyGroup string `toml:"read_only_group"`
}

// TLS is the certificate of the submission listeners.
type TLS struct {
	// CertFile is a PEM certificate chain; with KeyFile it enables STARTTLS
	// on "starttls" listeners and is required by "tls" listeners.
	// Default: "" (no TLS: STARTTLS is not offered).
	CertFile string `toml:"cert_file"`
	// KeyFile is the PEM private key of CertFile. Default: "".
	KeyFile string `toml:"key_file"`
}

// Listen holds the listeners.
type Listen struct {
	// Submission is the list of SMTP submission listeners
	// ([[listen.submission]]). Default: one, 127.0.0.1:587 starttls.
	Submission []Listener `toml:"submission"`
}

// Listener modes.
const (
	// ModeStartTLS is plain SMTP, offering STARTTLS when a certificate is
	// configured (port 587).
	ModeStartTLS = "starttls"
	// ModeTLS is implicit TLS from the first byte (port 465, RFC 8314).
	ModeTLS = "tls"
)

// Listener is one submission listener.
type Listener struct {
	// Address is host:port to listen on; an empty host means every
	// address. Required.
	Address string `toml:"address"`
	// Mode is ModeStartTLS or ModeTLS. Default: "starttls".
	Mode string `toml:"mode"`
}

// User may submit mail after AUTH PLAIN or AUTH LOGIN over TLS.
type User struct {
	// Name is the AUTH user name. Required, unique.
	Name string `toml:"name"`
	// PasswordHash is the bcrypt hash of the password, as printed by
	// `outbox passwd` ("$2a$10$..."). Required.
	PasswordHash string `toml:"password_hash"`
	// AllowedSenders are the envelope senders this user may use: full
	// addresses ("app@example.com") or "*@domain" for any address at
	// domain (domains match without regard to case, not their
	// subdomains). MAIL FROM with any other sender, or the null sender, gets
	// 553 5.7.1, so that one application's leaked credentials cannot send
	// as another's domain. Default: empty, meaning any sender.
	AllowedSenders []string `toml:"allowed_senders"`
	// CheckFromHeader applies AllowedSenders to every address of the From
	// header field too (553 5.7.1 after the data). Default: false.
	CheckFromHeader bool `toml:"check_from_header"`
	// Priority is the delivery lane of this user's messages: "high",
	// "normal" or "bulk" (see the README, Priority lanes). SMTP has no
	// safe per-message way to ask for one. Default: "normal".
	Priority string `toml:"priority"`
}

// Limits bound the submission side.
type Limits struct {
	// MaxMessageSize is the largest message accepted, in bytes (advertised
	// as SIZE; larger gets 552 5.3.4). Default: 25MiB.
	MaxMessageSize Size `toml:"max_message_size"`
	// MaxRecipients is the most RCPT TO per message (more get 452 4.5.3).
	// Default: 100.
	MaxRecipients int `toml:"max_recipients"`
	// MaxConnections is the most concurrent submission connections over
	// all listeners; a client over it gets 421 4.7.0 and is disconnected.
	// Default: 200.
	MaxConnections int `toml:"max_connections"`
	// ReservedConnections of MaxConnections are kept for trusted networks
	// and authenticated clients: untrusted clients that have not (yet)
	// authenticated hold at most MaxConnections - ReservedConnections.
	// At least 1, below MaxConnections. Default: 20.
	ReservedConnections int `toml:"reserved_connections"`
	// MaxConnectionsPerClient is the most concurrent connections from one
	// IP address outside TrustedNetworks (more: 421 4.7.0). Default: 20.
	MaxConnectionsPerClient int `toml:"max_connections_per_client"`
	// ConnectionRate is the most new connections from one IP address
	// outside TrustedNetworks per ConnectionRateWindow (more: 421 4.7.0).
	// Default: 60.
	ConnectionRate int `toml:"connection_rate"`
	// ConnectionRateWindow is the fixed window of ConnectionRate.
	// Default: 1m.
	ConnectionRateWindow Duration `toml:"connection_rate_window"`
	// PreAuthTimeout replaces ReadTimeout for a client outside
	// TrustedNetworks until it has authenticated: the longest it may stay
	// silent, also within a command line sent slowly (421 4.4.2).
	// Default: 30s.
	PreAuthTimeout Duration `toml:"preauth_timeout"`
	// MaxJunkCommands is the most NOOP, RSET, VRFY, EXPN and HELP commands
	// a client outside TrustedNetworks may send between accepted messages;
	// the next gets 421 4.7.0 and the connection is closed. Default: 20.
	MaxJunkCommands int `toml:"max_junk_commands"`
	// ReadTimeout bounds waiting for each command line from a client, and
	// the silence between reads within DATA or BDAT.
	// Default: 5m (RFC 5321 §4.5.3.2.7).
	ReadTimeout Duration `toml:"read_timeout"`
	// WriteTimeout bounds each reply written to a client. Default: 1m.
	WriteTimeout Duration `toml:"write_timeout"`
	// DataTimeout bounds the whole DATA or BDAT transfer, wall clock, from
	// the DATA reply 354 (or the first BDAT command) to the end of the
	// data, however the client paces it; past it the client gets 421 4.4.2
	// and is disconnected. A large message on a slow link needs it long
	// enough. Default: 10m.
	DataTimeout Duration `toml:"data_timeout"`
	// MaxAuthFailures failed AUTH attempts from one IP address within
	// AuthFailureWindow make further AUTH attempts from it be refused until
	// the window has passed. Default: 5.
	MaxAuthFailures int `toml:"max_auth_failures"`
	// AuthFailureWindow is the sliding window of MaxAuthFailures.
	// Default: 10m.
	AuthFailureWindow Duration `toml:"auth_failure_window"`
	// MaxHold is the longest scheduled send: how far ahead a message may
	// ask to be delivered (SMTP FUTURERELEASE HOLDFOR/HOLDUNTIL, RFC 4865,
	// advertised in the EHLO reply; HTTP deliver_after). Longer: 554 5.3.4
	// over SMTP, 400 over HTTP. "0" turns scheduled send off. A DKIM key's
	// expiry shortens it so that a held message's signature outlives its
	// delivery lifetime. Default: 30d.
	MaxHold Duration `toml:"max_hold"`
	// ShutdownTimeout is how long a stopping daemon lets SMTP transactions
	// and deliveries in progress finish before closing them (deliveries
	// return to the queue). systemd's TimeoutStopSec must be longer.
	// Default: 30s.
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
}

// TLS policies, for Delivery.TLSPolicy, Delivery.DomainTLSPolicies and
// RelayServer.TLSPolicy.
const (
	TLSPolicyNone          = "none"          // never STARTTLS
	TLSPolicyOpportunistic = "opportunistic" // STARTTLS when offered, unverified; plain text if the handshake fails
	TLSPolicyRequired      = "required"      // encrypted (unverified) or defer
	TLSPolicyVerify        = "verify"        // encrypted with a certificate valid for the host name, or defer
)

// Delivery configures the delivery workers.
type Delivery struct {
	// AtLeastOne: true sends DATA when at least one recipient of a
	// transaction was accepted (the others are deferred or bounced); false
	// sends DATA only when all were accepted, RSET otherwise. A submitter
	// may override it per message. Default: true.
	AtLeastOne bool `toml:"at_least_one"`
	// DSN: queue a delivery status notification (RFC 3464) to the envelope
	// sender when a recipient bounces. Default: true.
	DSN bool `toml:"dsn"`
	// DelayWarning, when non-zero, sends the sender a notice once a
	// recipient has been deferred this long (e.g. "4h"). Default: 0 (off).
	DelayWarning Duration `toml:"delay_warning"`

	// MaxConnections is the most outbound SMTP sessions at once over all
	// destinations. Default: 200.
	MaxConnections int `toml:"max_connections"`
	// MaxPerDestination is the most sessions at once to one destination
	// (MX domain or relay). Default: 20.
	MaxPerDestination int `toml:"max_per_destination"`
	// MaxHosts is the most MX hosts tried in one attempt. Default: 5.
	MaxHosts int `toml:"max_hosts"`
	// MaxRecipientsPerTransaction is the most recipients of one SMTP
	// transaction; more go in further transactions at once, as do those a
	// server refuses with 452 4.5.3 "too many recipients". Default: 50,
	// as Postfix's smtp_destination_recipient_limit.
	MaxRecipientsPerTransaction int `toml:"max_recipients_per_transaction"`
	// MaxMessagesPerConnection is the most messages sent over one reused
	// session before it is closed. Default: 100.
	MaxMessagesPerConnection int `toml:"max_messages_per_connection"`
	// IdleTimeout closes a reusable session idle this long. Default: 30s.
	IdleTimeout Duration `toml:"idle_timeout"`

	// FirstRetry is the delay before the first retry of a deferred
	// recipient; later ones double (±10% jitter). Default: 5m.
	FirstRetry Duration `toml:"first_retry"`
	// MaxRetryInterval caps the doubling. Default: 4000s.
	MaxRetryInterval Duration `toml:"max_retry_interval"`
	// MaxLifetime is how long after acceptance (for a scheduled message,
	// after its scheduled send time) a recipient is retried before it
	// bounces as expired; a message's own expire_at may end it earlier.
	// Default: 5d.
	MaxLifetime Duration `toml:"max_lifetime"`

	// Resolver is the DNS server for MX lookups, as ip:port. Default: ""
	// meaning the first nameserver of /etc/resolv.conf.
	Resolver string `toml:"resolver"`
	// DNSSECValidating declares that Resolver validates DNSSEC and is
	// reached over a path nobody can tamper with (loopback): its AD bit is
	// then trusted, which enables DANE (RFC 7672) for MX hosts whose MX,
	// address and TLSA records are signed. Default: false (AD ignored, no
	// DANE), as Postfix's smtp_dns_support_level.
	DNSSECValidating bool `toml:"dnssec_validating"`
	// DNSCacheSize is the most answers (one per name and record type: MX,
	// A, AAAA) kept by the built-in DNS cache, least recently used evicted
	// first. 0 turns the cache off: every delivery asks Resolver.
	// Default: 10000.
	DNSCacheSize int `toml:"dns_cache_size"`
	// DNSCacheMinTTL and DNSCacheMaxTTL bound how long an answer with
	// records is kept, whatever its TTL. "0s" as the floor honours TTLs
	// down to 0. Default: 30s and 1h.
	DNSCacheMinTTL Duration `toml:"dns_cache_min_ttl"`
	DNSCacheMaxTTL Duration `toml:"dns_cache_max_ttl"`
	// DNSCacheNegativeMinTTL and DNSCacheNegativeMaxTTL bound how long
	// "no such domain" (NXDOMAIN) and "no such record" (NODATA) are kept;
	// otherwise they are kept for the SOA's minimum (RFC 2308 §5).
	// Default: 30s and 15m.
	DNSCacheNegativeMinTTL Duration `toml:"dns_cache_negative_min_ttl"`
	DNSCacheNegativeMaxTTL Duration `toml:"dns_cache_negative_max_ttl"`
	// ShapingPresets applies the built-in budgets of the big mailbox
	// providers (Gmail, Yahoo/AOL, Outlook/Hotmail, iCloud) after the
	// [[shaping]] rules. Default: true.
	ShapingPresets bool `toml:"shaping_presets"`
	// ThrottleRecovery is the time between two additive increases of a
	// destination slowed by a "slow down" reply: each gives back a tenth
	// of its rate. Default: 1m.
	ThrottleRecovery Duration `toml:"throttle_recovery"`
	// Port is the TCP port of MX hosts. Only tests change it. Default: 25.
	Port int `toml:"port"`
	// TLSPolicy is the policy for direct (MX) delivery: "none",
	// "opportunistic", "required" or "verify". Default: "opportunistic".
	TLSPolicy string `toml:"tls_policy"`
	// CAFile is a PEM bundle used instead of the system roots to verify MX
	// certificates (policy "verify", and the "verified" mark recorded on
	// every attempt). Default: "" (system roots).
	CAFile string `toml:"ca_file"`
	// ExtraCAFile is a PEM bundle added to the roots (the system's, or
	// CAFile's) that verify MX certificates and MTA-STS policy servers: a
	// private CA trusted beside WebPKI. Default: "" (none).
	ExtraCAFile string `toml:"extra_ca_file"`
	// MTASTS applies the MTA-STS policies of recipient domains (RFC 8461):
	// policies are fetched over HTTPS (verified against CAFile when set),
	// cached in the spool, and an "enforce" policy sends mail only to the
	// MX hosts it lists, with a valid certificate. Default: true.
	MTASTS bool `toml:"mta_sts"`
	// MTASTSPort is the HTTPS port of MTA-STS policy servers. Only tests
	// change it. Default: 443.
	MTASTSPort int `toml:"mta_sts_port"`
	// TLSMemory remembers the best TLS each recipient domain has shown
	// (verified, encrypted, plain) in the spool and defers delivery rather
	// than accept less later, until `outbox tls reset DOMAIN`.
	// Default: true.
	TLSMemory bool `toml:"tls_memory"`
	// Paused accepts and spools mail but starts no delivery until the
	// daemon runs without it (maintenance, or a spool-only test).
	// Default: false.
	Paused bool `toml:"paused"`
	// DomainTLSPolicies overrides TLSPolicy for the MX delivery of some
	// recipient domains ([delivery.tls_policies], "bank.example" =
	// "verify"). Default: none.
	DomainTLSPolicies map[string]string `toml:"tls_policies"`

	// Timeouts bound each network step of a delivery.
	Timeouts Timeouts `toml:"timeouts"`
}

// Timeouts bound every network step of an outbound session; the SMTP ones
// default to RFC 5321 §4.5.3.2.
type Timeouts struct {
	Connect      Duration `toml:"connect"`       // TCP connect. Default: 30s.
	TLSHandshake Duration `toml:"tls_handshake"` // TLS handshake. Default: 30s.
	Greeting     Duration `toml:"greeting"`      // initial 220 reply. Default: 5m.
	Command      Duration `toml:"command"`       // EHLO, STARTTLS, AUTH, RSET, QUIT replies. Default: 5m.
	Mail         Duration `toml:"mail"`          // MAIL FROM reply. Default: 5m.
	Rcpt         Duration `toml:"rcpt"`          // each RCPT TO reply. Default: 5m.
	Data         Duration `toml:"data"`          // DATA initiation (354). Default: 2m.
	DataBlock    Duration `toml:"data_block"`    // each block of the body written. Default: 3m.
	FinalDot     Duration `toml:"final_dot"`     // reply after the final dot. Default: 10m.
}

// Relay is a smarthost: servers tried in order, the next one on connect
// failure, TLS failure, 421 or a 4xx greeting.
type Relay struct {
	// Servers in the order tried ([[relay.NAME.server]]). At least one.
	Servers []RelayServer `toml:"server"`
}

// Relay TLS modes, for RelayServer.TLS.
const (
	RelayTLSStartTLS = "starttls" // plain connection upgraded with STARTTLS
	RelayTLSImplicit = "tls"      // TLS from the first byte (port 465)
	RelayTLSNone     = "none"     // plain text
)

// RelayServer is one server of a Relay.
type RelayServer struct {
	// Host is the server's host name (also the name its certificate must
	// carry). Required.
	Host string `toml:"host"`
	// Port is its TCP port. Default: 587 for "starttls", 465 for "tls",
	// 25 for "none" (Load fills it in).
	Port int `toml:"port"`
	// TLS is the connection mode: "starttls", "tls" or "none".
	// Default: "starttls".
	TLS string `toml:"tls"`
	// TLSPolicy is "verify", "required", "opportunistic" or "none" (see the
	// TLSPolicy constants). Default: "verify"; "none" when TLS is "none".
	TLSPolicy string `toml:"tls_policy"`
	// Username enables AUTH (the strongest of PLAIN, LOGIN, CRAM-MD5 the
	// server offers). Default: "" (no AUTH).
	Username string `toml:"username"`
	// Password for Username. Prefer PasswordFile, which keeps the secret
	// out of the config file. Default: "".
	Password string `toml:"password"`
	// PasswordFile is a file whose content (without the final newline) is
	// the password; Load reads it into Password. Default: "".
	PasswordFile string `toml:"password_file"`
	// ClientCert and ClientKey are a PEM certificate and key presented to
	// the server. Default: "" (none).
	ClientCert string `toml:"client_cert"`
	ClientKey  string `toml:"client_key"`
	// CAFile is a PEM bundle of CAs that verify the server's certificate.
	// Default: "" (the system roots).
	CAFile string `toml:"ca_file"`
}

// Direct is the route value that means "deliver to the domain's MX hosts";
// it cannot be the name of a relay.
const Direct = "direct"
