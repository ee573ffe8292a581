package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// A valid bcrypt hash (of a random password nobody knows).
const testHash = "$2a$10$7qLW3HA6W4P1Y2VgnzO0nufSVDozJZ.I615HumZtvjTvJ1KJ7dHii"

// TestBrokenConfigs is the table of broken configurations and the exact
// problems the user must see for each. {{dir}} is the config file's
// directory, where exists.pem exists.
func TestBrokenConfigs(t *testing.T) {
	for _, tt := range slices.Concat(brokenSyntax(), brokenListeners(), brokenClients(), brokenDelivery(), brokenRoutes()) {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.doc)
			dir := filepath.Dir(path)
			for name, content := range map[string]string{"exists.pem": "x", "empty": "\n"} {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c, err := Load(path)
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("Load = %+v, %v; want a *ValidationError", c, err)
			}
			var got []string
			for _, p := range verr.Problems {
				got = append(got, p.Error())
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = strings.ReplaceAll(w, "{{dir}}", dir)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("problems:\n\t%s\nwant:\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
			}
		})
	}
}

// brokenConfig is a configuration document and every Problem, in order,
// that Load must report for it.
type brokenConfig struct {
	name string
	doc  string
	want []string
}

// brokenSyntax lists broken configurations about unknown keys,
// malformed values and the server's own settings.
func brokenSyntax() []brokenConfig {
	return []brokenConfig{
		{
			name: "unknown key",
			doc:  "[limits]\nmax_recipent = 5\n",
			want: []string{"limits.max_recipent: unknown key (did you mean limits.max_recipients?)"},
		},
		{
			name: "unknown key in a listener",
			doc:  "[[listen.submission]]\nadress = \"127.0.0.1:587\"\n",
			want: []string{
				"listen.submission.adress: unknown key (did you mean listen.submission.address?)",
				`listen.submission[0].address: must be set, as host:port (e.g. "127.0.0.1:587")`,
			},
		},
		{
			name: "unknown keys: typo in a relay, and no guess for a far one",
			doc:  "[relay.p]\n[[relay.p.server]]\nhots = \"smtp.example\"\n[limits]\nfrobnicate = 1\n",
			want: []string{
				"relay.p.server.hots: unknown key (did you mean relay.p.server.host?)",
				"limits.frobnicate: unknown key",
				"relay.p.server[0].host: must be set",
			},
		},
		{
			name: "unknown section reported once",
			doc:  "[arc]\nselector = \"s1\"\nkey_file = \"k\"\n",
			want: []string{"arc: unknown key"},
		},
		{
			name: "unknown spool backend",
			doc:  "[spool]\nbackend = \"postgresql\"\n",
			want: []string{`spool.backend: is "postgresql"; want "bbolt" or "postgres"`},
		},
		{
			name: "postgres backend without a URL",
			doc:  "[spool]\nbackend = \"postgres\"\n",
			want: []string{`spool.postgres_url: must be set when spool.backend is "postgres"`},
		},
		{
			name: "postgres URL of another scheme, password not echoed",
			doc:  "[spool]\nbackend = \"postgres\"\npostgres_url = \"mysql://u:secret@db/outbox\"\nlease = \"0s\"\n",
			want: []string{"spool.postgres_url: must start with postgres:// or postgresql://", "spool.lease: must be positive"},
		},
		{
			name: "bad duration",
			doc:  "[delivery]\nfirst_retry = \"5 minutes\"\n",
			want: []string{`delivery.first_retry: invalid duration "5 minutes" (write e.g. "30s", "5m", "4h", "5d")`},
		},
		{
			name: "duration without unit",
			doc:  "[limits]\nread_timeout = 300\n",
			want: []string{`limits.read_timeout: a duration must be a string, e.g. "30s", "5m", "5d"`},
		},
		{
			name: "negative and zero durations",
			doc:  "[limits]\nwrite_timeout = \"-1s\"\n[delivery.timeouts]\nconnect = \"0s\"\n",
			want: []string{
				"limits.write_timeout: must not be negative (got -1s)",
				"delivery.timeouts.connect: must be positive",
			},
		},
		{
			name: "negative sizes",
			doc:  "[limits]\nmax_message_size = -1\n",
			want: []string{"limits.max_message_size: must not be negative (got -1)"},
		},
		{
			name: "bad size unit",
			doc:  "[limits]\nmax_message_size = \"25 megs\"\n",
			want: []string{`limits.max_message_size: invalid size "25 megs": unknown unit "megs" (B, KiB, MiB, GiB, KB, MB, GB)`},
		},
		{
			name: "max_recipients 0 and other counts",
			doc:  "[limits]\nmax_recipients = 0\nmax_connections = -3\nmax_auth_failures = 0\n[delivery]\nmax_per_destination = 0\nmax_recipients_per_transaction = 0\n",
			want: []string{
				"limits.max_recipients: must be at least 1 (got 0)",
				"limits.max_connections: must be at least 1 (got -3)",
				"limits.max_auth_failures: must be at least 1 (got 0)",
				"delivery.max_per_destination: must be at least 1 (got 0)",
				"delivery.max_recipients_per_transaction: must be at least 1 (got 0)",
			},
		},
		{
			name: "bad hostname, empty spool, long socket",
			doc:  "hostname = \"mail_server!\"\n[spool]\ndir = \"\"\n[admin]\nsocket = \"/" + strings.Repeat("s", 120) + "\"\n",
			want: []string{
				`hostname: "mail_server!" is not a valid host name`,
				"spool.dir: must not be empty",
				"admin.socket: path is 121 bytes long; a Unix socket path must be at most 107 (use a shorter path)",
			},
		},
	}
}

// brokenListeners lists broken configurations about listeners and their
// certificates.
func brokenListeners() []brokenConfig {
	return []brokenConfig{
		{
			name: "bad address",
			doc:  "[[listen.submission]]\naddress = \"127.0.0.1\"\n[[listen.submission]]\naddress = \"localhost:smtp\"\n[[listen.submission]]\naddress = \"bad host:25\"\n",
			want: []string{
				`listen.submission[0].address: "127.0.0.1" is not host:port (e.g. "127.0.0.1:587", "[::1]:587", ":465")`,
				`listen.submission[1].address: "localhost:smtp": port "smtp" is not a number from 1 to 65535`,
				`listen.submission[2].address: "bad host:25": "bad host" is not an IP address or host name`,
			},
		},
		{
			name: "duplicate listener and bad mode",
			doc:  "[[listen.submission]]\naddress = \":587\"\n[[listen.submission]]\naddress = \":587\"\nmode = \"ssl\"\n",
			want: []string{
				`listen.submission[1].address: ":587" is also the address of listen.submission[0]`,
				`listen.submission[1].mode: must be "starttls" or "tls", not "ssl"`,
			},
		},
		{
			name: "implicit TLS without a certificate",
			doc:  "[[listen.submission]]\naddress = \":465\"\nmode = \"tls\"\n",
			want: []string{`listen.submission[0].mode: "tls" needs a certificate: set tls.cert_file and tls.key_file`},
		},
		{
			name: "missing cert file",
			doc:  "[tls]\ncert_file = \"{{dir}}/missing.pem\"\nkey_file = \"{{dir}}/exists.pem\"\n",
			want: []string{"tls.cert_file: no such file: {{dir}}/missing.pem"},
		},
		{
			name: "cert without key",
			doc:  "[tls]\ncert_file = \"{{dir}}/exists.pem\"\n",
			want: []string{"tls.key_file: must be set when tls.cert_file is"},
		},
		{
			name: "key is a directory",
			doc:  "[tls]\ncert_file = \"{{dir}}/exists.pem\"\nkey_file = \"{{dir}}\"\n",
			want: []string{"tls.key_file: {{dir}} is a directory, not a file"},
		},
	}
}

// brokenClients lists broken configurations about who may submit:
// users, trusted networks, sender rules and client limits.
func brokenClients() []brokenConfig {
	return []brokenConfig{
		{
			name: "users entry with a non-bcrypt hash",
			doc:  "[[users]]\nname = \"app\"\npassword_hash = \"secret\"\n[[users]]\nname = \"app\"\npassword_hash = \"" + testHash + "\"\n[[users]]\npassword_hash = \"\"\n",
			want: []string{
				"users[0].password_hash: not a bcrypt hash (print one with `outbox passwd`)",
				`users[1].name: user "app" is also users[0]`,
				"users[2].name: must not be empty",
				"users[2].password_hash: must be set (print one with `outbox passwd`)",
			},
		},
		{
			name: "trusted network not a CIDR",
			doc:  "trusted_networks = [\"127.0.0.1\", \"10.0.0.0/33\", \"::1/128\"]\n",
			want: []string{
				`trusted_networks[0]: "127.0.0.1" is not a network in CIDR notation (e.g. "10.0.0.0/8", "192.0.2.7/32", "fd00::/8")`,
				`trusted_networks[1]: "10.0.0.0/33" is not a network in CIDR notation (e.g. "10.0.0.0/8", "192.0.2.7/32", "fd00::/8")`,
			},
		},
		{
			name: "allowed senders",
			doc:  "[[users]]\nname = \"app\"\npassword_hash = \"" + testHash + "\"\nallowed_senders = [\"*@example.com\", \"a*@example.com\", \"example.com\", \"*@*\"]\n",
			want: []string{
				`users[0].allowed_senders[1]: "a*@example.com": "*" may only stand for the whole local part ("*@example.com")`,
				`users[0].allowed_senders[2]: "example.com": want "local@domain" or "*@domain"`,
				`users[0].allowed_senders[3]: "*@*": "*" may only stand for the whole local part ("*@example.com")`,
			},
		},
		{
			name: "client limits",
			doc:  "[limits]\nmax_connections = 10\nreserved_connections = 10\nmax_connections_per_client = 0\nconnection_rate = 0\nconnection_rate_window = \"0s\"\npreauth_timeout = \"0s\"\nmax_junk_commands = 0\n",
			want: []string{
				"limits.reserved_connections: must be below limits.max_connections (10), or untrusted clients could never connect",
				"limits.max_connections_per_client: must be at least 1 (got 0)",
				"limits.connection_rate: must be at least 1 (got 0)",
				"limits.connection_rate_window: must be positive",
				"limits.preauth_timeout: must be positive",
				"limits.max_junk_commands: must be at least 1 (got 0)",
			},
		},
	}
}

// brokenDelivery lists broken configurations about the sending side:
// shaping, suppression, lanes and delivery settings.
func brokenDelivery() []brokenConfig {
	return []brokenConfig{
		{
			name: "negative hold",
			doc:  "[limits]\nmax_hold = \"-1h\"\n",
			want: []string{"limits.max_hold: must not be negative (got -1h0m0s)"},
		},
		{
			name: "shaping rules and throttle replies",
			doc: "[[shaping]]\nname = \"a\"\n[[shaping]]\nname = \"a\"\ndomains = [\"x.test\"]\nper_minute = -1\n" +
				"[[throttle_reply]]\naction = \"slow\"\n[[throttle_reply]]\ncode = 550\naction = \"pause\"\n" +
				"[delivery]\nthrottle_recovery = \"0s\"\n",
			want: []string{
				"shaping[0]: the rule matches nothing: give domains or mx_suffixes",
				`shaping[1].name: rule name "a" is used twice`,
				"shaping[1].per_minute: must not be negative, got -1",
				"throttle_reply[0]: matches every reply: give code, enhanced or contains",
				"throttle_reply[1].code: 550 is not a 4xx reply (a 5xx is final and never retried)",
				`throttle_reply[1].action: "pause" is not an action (slow, suspend)`,
				"delivery.throttle_recovery: must be at least 1s, got 0s",
			},
		},
		{
			name: "suppression list and lanes",
			doc:  "[[users]]\nname = \"app\"\npassword_hash = \"" + testHash + "\"\npriority = \"urgent\"\n[suppression]\nafter_expirations = -1\nexpiry = \"soon\"\n",
			want: []string{
				`users[0].priority: "urgent": want high, normal or bulk`,
				"suppression.after_expirations: must not be negative (0 turns it off)",
				`suppression.expiry: invalid duration "soon" (write e.g. "30s", "5m", "4h", "5d")`,
			},
		},
		{
			name: "bad delivery settings",
			doc: `
[delivery]
first_retry = "1h"
max_retry_interval = "30m"
max_lifetime = "1h"
delay_warning = "2h"
resolver = "dns.example:53"
port = 0
tls_policy = "strict"
dns_cache_size = -1
dns_cache_min_ttl = "2h"
dns_cache_negative_min_ttl = "-1s"
dns_cache_negative_max_ttl = "0s"
[delivery.tls_policies]
"bank.example" = "maybe"
`,
			want: []string{
				"delivery.max_retry_interval: 30m is shorter than delivery.first_retry (1h)",
				"delivery.max_lifetime: 1h leaves no time for a retry after delivery.first_retry (1h)",
				"delivery.delay_warning: 2h is not shorter than delivery.max_lifetime (1h): it would never be sent",
				`delivery.resolver: "dns.example:53" is not ip:port (e.g. "127.0.0.53:53", "[::1]:53")`,
				"delivery.dns_cache_size: must be at least 0 (got -1)",
				"delivery.dns_cache_min_ttl: 2h is longer than delivery.dns_cache_max_ttl (1h)",
				"delivery.dns_cache_negative_min_ttl: must not be negative (got -1s)",
				"delivery.dns_cache_negative_max_ttl: must be positive",
				"delivery.port: must be a TCP port, 1 to 65535 (got 0)",
				`delivery.tls_policy: must be "none", "opportunistic", "required" or "verify", not "strict"`,
				`delivery.tls_policies."bank.example": must be "none", "opportunistic", "required" or "verify", not "maybe"`,
			},
		},
	}
}

// brokenRoutes lists broken configurations about routes and relays.
func brokenRoutes() []brokenConfig {
	return []brokenConfig{
		{
			name: "bad route",
			doc:  "[routes]\n\"example.org\" = \"provider\"\n\"Example.NET\" = \"direct\"\n\"not a domain\" = \"direct\"\n",
			want: []string{
				`routes."Example.NET": write the domain in lower case: "example.net"`,
				`routes."example.org": no relay named "provider" (known: direct)`,
				`routes."not a domain": "not a domain" is not a domain or "*"`,
			},
		},
		{
			name: "bad relay",
			doc: `
[relay.direct]
[[relay.direct.server]]
host = "smtp.example"
[relay.empty]
[relay.p]
[[relay.p.server]]
tls = "ssl"
port = 70000
username = "me"
[[relay.p.server]]
host = "smtp.example"
tls = "none"
tls_policy = "verify"
password = "x"
password_file = "{{dir}}/exists.pem"
[[relay.p.server]]
host = "smtp.example"
tls = "tls"
tls_policy = "none"
client_cert = "{{dir}}/exists.pem"
ca_file = "{{dir}}/ca.pem"
`,
			want: []string{
				`relay.direct: "direct" is reserved for direct MX delivery; choose another relay name`,
				"relay.empty.server: a relay needs at least one [[relay.empty.server]]",
				"relay.p.server[0].host: must be set",
				"relay.p.server[0].port: must be a TCP port, 1 to 65535 (got 70000)",
				`relay.p.server[0].tls: must be "starttls", "tls" or "none", not "ssl"`,
				"relay.p.server[0].password: username is set: set password or password_file too",
				`relay.p.server[1].tls_policy: "verify" contradicts tls = "none" (leave it out, or set "none")`,
				"relay.p.server[1].password_file: set password or password_file, not both",
				`relay.p.server[2].tls_policy: "none" contradicts tls = "tls" (implicit TLS always encrypts)`,
				"relay.p.server[2].client_key: must be set when client_cert is",
				"relay.p.server[2].ca_file: no such file: {{dir}}/ca.pem",
			},
		},
		{
			name: "empty password file",
			doc:  "[relay.p]\n[[relay.p.server]]\nhost = \"smtp.example\"\nusername = \"u\"\npassword_file = \"{{dir}}/empty\"\n",
			want: []string{"relay.p.server[0].password_file: {{dir}}/empty is empty"},
		},
	}
}

func TestValidateInCode(t *testing.T) {
	c := Default()
	c.Limits.MaxRecipients = 0
	c.Users = append(c.Users, User{Name: "a", PasswordHash: testHash})
	err := c.Validate()
	var verr *ValidationError
	if !errors.As(err, &verr) || len(verr.Problems) != 1 || verr.Problems[0].Key != "limits.max_recipients" {
		t.Fatalf("Validate = %v, want one problem with limits.max_recipients", err)
	}
	if want := "invalid configuration (defaults): limits.max_recipients: must be at least 1 (got 0)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}
