package config

import (
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/BurntSushi/toml"
)

// Load reads the TOML file at path over the defaults, fills derived values,
// validates the result and reads relay password files. path "" means no
// file: the embedded defaults (see Default).
//
// A file that cannot be read or is not valid TOML (syntax, or a value of
// the wrong TOML type) is an error naming its line and key. Every other
// problem — unknown keys included — is collected into one
// *ValidationError.
func Load(path string) (*Config, error) {
	var ps problems
	c, err := read(path, &ps)
	if err != nil {
		return nil, err
	}
	c.validate(&ps)
	c.readPasswordFiles(&ps)
	c.readWebhookSecrets(&ps)
	if err := ps.err(path); err != nil {
		return nil, err
	}
	return c, nil
}

// read decodes the TOML file at path (none: "") over the defaults and
// resolves the derived values; problems short of a syntax error go to ps.
func read(path string, ps *problems) (*Config, error) {
	c := defaults()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("config: %w", err)
		}
		if err := c.decode(string(data), ps); err != nil {
			return nil, fmt.Errorf("config %s: %w", path, err)
		}
	}
	c.resolve()
	return c, nil
}

// LoadClient reads the TOML file at path over the defaults for a local
// client of the daemon (sendmail), which needs the hostname, the limits
// and the listeners' addresses only: it neither validates the values nor
// reads the files the configuration names (keys, password files), which
// may be readable by the service only. Errors are Load's for an unreadable
// file (errors.Is(err, fs.ErrPermission) when this user may not read it),
// TOML syntax and unknown keys.
func LoadClient(path string) (*Config, error) {
	var ps problems
	c, err := read(path, &ps)
	if err != nil {
		return nil, err
	}
	if err := ps.err(path); err != nil {
		return nil, err
	}
	return c, nil
}

// file is what the TOML document decodes into: the Config, plus the keys
// whose values are parsed after decoding so that a bad one is reported
// with the others instead of stopping the decoder.
type file struct {
	*Config
	TrustedNetworks []string `toml:"trusted_networks"`
}

// decode reads doc over c. Unknown keys and unparsable trusted networks
// are added to ps; the error is a TOML syntax or type error.
func (c *Config) decode(doc string, ps *problems) error {
	f := file{Config: c, TrustedNetworks: formatPrefixes(c.TrustedNetworks)}
	md, err := toml.Decode(doc, &f)
	if err != nil {
		return err
	}
	// Undecoded lists an unknown table and then each key inside it: report
	// the table only.
	var reported []string
	for _, k := range md.Undecoded() {
		name := k.String()
		if hasKeyPrefix(name, reported) {
			continue
		}
		reported = append(reported, name)
		if guess := suggestKey(name); guess != "" {
			ps.add(name, "unknown key (did you mean %s?)", guess)
		} else {
			ps.add(name, "unknown key")
		}
	}
	c.TrustedNetworks = c.TrustedNetworks[:0]
	for i, s := range f.TrustedNetworks {
		p, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			ps.add(fmt.Sprintf("trusted_networks[%d]", i), "%q is not a network in CIDR notation (e.g. \"10.0.0.0/8\", \"192.0.2.7/32\", \"fd00::/8\")", s)
			continue
		}
		c.TrustedNetworks = append(c.TrustedNetworks, p.Masked())
	}
	return nil
}

func hasKeyPrefix(name string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p+".") {
			return true
		}
	}
	return false
}

func formatPrefixes(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// readPasswordFiles reads each relay server's password_file into its
// Password, so that cmd never touches the file. The final newline, which
// editors and `echo` add, is not part of the password.
func (c *Config) readPasswordFiles(ps *problems) {
	for _, name := range sortedKeys(c.Relays) {
		r := c.Relays[name]
		for i := range r.Servers {
			s := &r.Servers[i]
			if s.PasswordFile == "" || s.Password != "" {
				continue // unset, or both set: reported by validate
			}
			b, err := os.ReadFile(s.PasswordFile)
			if err != nil {
				continue // reported by validate (readable)
			}
			pw := strings.TrimRight(string(b), "\r\n")
			if pw == "" {
				ps.add(fmt.Sprintf("relay.%s.server[%d].password_file", keyPart(name), i), "%s is empty", s.PasswordFile)
				continue
			}
			s.Password = pw
		}
	}
}
