package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/delivery"
	"github.com/outbox-mta/outbox/delivery/dkim"
	"github.com/outbox-mta/outbox/queue/httpapi"
	"github.com/outbox-mta/outbox/queue/submission"
	"github.com/outbox-mta/outbox/store"
)

// A reload (SIGHUP, `systemctl reload outbox`) re-reads the configuration
// file and swaps, without closing a connection or stopping a delivery:
//
//   - users ([[users]]): the next AUTH checks the new table;
//   - the TLS certificate ([tls] files): the next handshake presents it;
//   - routes and relays: the next delivery attempt uses them;
//   - DKIM keys ([dkim]): the next accepted message is signed with them;
//   - API keys ([[api.keys]]): the next HTTP request is checked against them.
//
// Everything else is fixed at start (listeners, spool, admin socket,
// limits, delivery settings, metrics, cron): a change to it is logged as
// needing a restart and the running value stays. So do two switches that
// change what the listener advertises: configuring the first user (AUTH
// is offered only when users were configured at start) and adding or
// removing [tls] (STARTTLS). A file that fails to load or check is
// rejected as a whole and the running configuration stays.

// reloadable reports whether a reload applies a top-level configuration
// key. Every other key is compared by restartKeys.
func reloadable(key string) bool {
	switch key {
	case "users", "tls", "routes", "relay", "dkim", "api.keys":
		return true
	}
	return false
}

// settings are the parts of a configuration that a reload replaces, loaded
// and checked (hashes parsed, certificate files read) before anything is
// swapped.
type settings struct {
	users   *submission.Users   // nil: no [[users]]
	senders *submission.Senders // every user's allowed senders
	cert    *tls.Certificate    // nil: no [tls]
	routes  map[string]string
	relays  map[string][]delivery.RelayServer
	dkim    *dkim.Keys // nil: no [[dkim.domain]], nothing signed
	apiKeys []httpapi.Key
	// priorities: each user's delivery lane
	priorities submission.UserPriorities
}

// loadSettings loads what cfg names. Every problem is reported, by key.
func loadSettings(cfg *config.Config) (*settings, error) {
	var errs []error
	s := &settings{routes: cfg.Routes}
	rules := make(map[string]submission.SenderRule, len(cfg.Users))
	if len(cfg.Users) > 0 {
		hashes := make(map[string]string, len(cfg.Users))
		for _, u := range cfg.Users {
			hashes[u.Name] = u.PasswordHash
			rules[u.Name] = submission.SenderRule{Patterns: u.AllowedSenders, CheckFrom: u.CheckFromHeader}
			if p, ok := store.ParsePriority(u.Priority); ok && p != store.PriorityNormal {
				if s.priorities == nil {
					s.priorities = submission.UserPriorities{}
				}
				s.priorities[u.Name] = p
			}
		}
		users, err := submission.NewUsers(hashes)
		if err != nil {
			errs = append(errs, fmt.Errorf("users: %w", err))
		}
		s.users = users
	}
	senders, err := submission.NewSenders(rules)
	if err != nil {
		errs = append(errs, fmt.Errorf("users: %w", err))
	}
	s.senders = senders
	if cfg.TLS.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.CertFile, cfg.TLS.KeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("tls.cert_file: %w", err))
		}
		s.cert = &cert
	}
	relays, err := buildRelays(cfg)
	if err != nil {
		errs = append(errs, err)
	}
	s.relays = relays
	if s.dkim, err = buildDKIM(cfg); err != nil {
		errs = append(errs, err)
	}
	if s.apiKeys, err = buildAPIKeys(cfg); err != nil {
		errs = append(errs, err)
	}
	return s, errors.Join(errs...)
}

// live holds what a reload swaps in the running daemon. The listener and
// the deliverer read through it; they are never rebuilt.
type live struct {
	users   *swapUsers // nil when AUTH is not offered
	senders swapSenders
	prio    swapPriorities
	cert    *swapCert // nil without TLS
	del     *delivery.Deliverer
	dkim    dkimSigner      // the listener's DKIM keys (dkim_wire.go)
	api     *httpapi.Server // nil without api.address
}

// newLive holds s for the listener (users, certificate) and the deliverer,
// which already has s's routes.
func newLive(s *settings, del *delivery.Deliverer) *live {
	l := &live{del: del}
	l.senders.p.Store(s.senders)
	l.prio.p.Store(&s.priorities)
	l.dkim.Store(s.dkim)
	if s.users != nil {
		l.users = new(swapUsers)
		l.users.p.Store(s.users)
	}
	if s.cert != nil {
		l.cert = new(swapCert)
		l.cert.p.Store(s.cert)
	}
	return l
}

// apply swaps in s and returns what it could not apply without a restart.
func (l *live) apply(s *settings) (restart []string) {
	switch {
	case l.users != nil && s.users != nil:
		l.users.p.Store(s.users)
	case l.users != nil:
		// Every user removed: AUTH stays offered (a restart stops that)
		// but nobody can log in, which is what removing them means.
		none, _ := submission.NewUsers(nil)
		l.users.p.Store(none)
	case s.users != nil:
		restart = append(restart, "users (AUTH is offered only when users are configured at start)")
	}
	switch {
	case l.cert != nil && s.cert != nil:
		l.cert.p.Store(s.cert)
	case l.cert != nil || s.cert != nil:
		restart = append(restart, "tls (STARTTLS is enabled or disabled at start)")
	}
	l.senders.p.Store(s.senders)
	l.prio.p.Store(&s.priorities)
	l.del.SetRoutes(s.routes, s.relays)
	l.dkim.Store(s.dkim)
	if l.api != nil {
		l.api.SetKeys(s.apiKeys)
	}
	return restart
}

// swapUsers is the listener's Authenticator; a reload replaces its table.
type swapUsers struct {
	p atomic.Pointer[submission.Users]
}

var _ submission.Authenticator = (*swapUsers)(nil)

// Authenticate implements submission.Authenticator.
func (u *swapUsers) Authenticate(user, pass string) error {
	return u.p.Load().Authenticate(user, pass)
}

// swapSenders is the listener's SenderPolicy; a reload replaces its table.
type swapSenders struct {
	p atomic.Pointer[submission.Senders]
}

var _ submission.SenderPolicy = (*swapSenders)(nil)

// SenderAllowed implements submission.SenderPolicy.
func (s *swapSenders) SenderAllowed(user, addr string) bool {
	return s.p.Load().SenderAllowed(user, addr)
}

// FromChecked implements submission.SenderPolicy.
func (s *swapSenders) FromChecked(user string) bool { return s.p.Load().FromChecked(user) }

// swapPriorities is the listener's PriorityPolicy; a reload replaces its
// table.
type swapPriorities struct {
	p atomic.Pointer[submission.UserPriorities]
}

var _ submission.PriorityPolicy = (*swapPriorities)(nil)

// Priority implements submission.PriorityPolicy.
func (s *swapPriorities) Priority(user string) store.Priority {
	if t := s.p.Load(); t != nil {
		return t.Priority(user)
	}
	return store.PriorityNormal
}

// swapCert serves the current certificate to every TLS handshake
// (tls.Config.GetCertificate); a reload replaces it.
type swapCert struct {
	p atomic.Pointer[tls.Certificate]
}

// GetCertificate is a tls.Config.GetCertificate.
func (c *swapCert) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.p.Load(), nil
}

// reloader re-reads the configuration file on demand.
type reloader struct {
	path    string         // the --config file; "" means the embedded defaults
	started *config.Config // what the daemon started with: restart-only keys stay at it
	live    *live
	log     *slog.Logger
	now     func() time.Time // certificate checks
}

// reload loads, checks and applies the configuration file. On any error
// nothing is applied and the running configuration stays.
func (r *reloader) reload() error {
	if r.path == "" {
		r.log.Warn("reload: no --config file, nothing to re-read")
		return nil
	}
	cfg, err := config.Load(r.path)
	if err == nil {
		err = cfg.Check(r.now())
	}
	if err != nil {
		return fmt.Errorf("reload %s: %w", r.path, err)
	}
	s, err := loadSettings(cfg)
	if err != nil {
		return fmt.Errorf("reload %s: %w", r.path, err)
	}
	restart := restartKeys(r.started, cfg)
	restart = append(restart, r.live.apply(s)...)
	for _, key := range restart {
		// Names only: values may be secrets.
		r.log.Warn("reload: this change needs a restart, the running value stays", "key", key)
	}
	r.log.Info("configuration reloaded", "file", r.path, "users", len(cfg.Users), "routes", len(cfg.Routes), "relays", len(cfg.Relays), "tls", s.cert != nil)
	return nil
}

// restartKeys names the keys that differ between old and new and that a
// reload cannot apply: every key but reloadableKeys, compared a section at
// a time ("limits.max_recipients", "listen.submission").
func restartKeys(old, new *config.Config) []string {
	var keys []string
	ov, nv := reflect.ValueOf(old).Elem(), reflect.ValueOf(new).Elem()
	t := ov.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		name := tomlName(f)
		if reloadable(name) {
			continue
		}
		of, nf := ov.Field(i), nv.Field(i)
		if f.Type.Kind() != reflect.Struct {
			if !reflect.DeepEqual(of.Interface(), nf.Interface()) {
				keys = append(keys, name)
			}
			continue
		}
		for j := range f.Type.NumField() {
			if key := name + "." + tomlName(f.Type.Field(j)); reloadable(key) {
				continue
			}
			if !reflect.DeepEqual(of.Field(j).Interface(), nf.Field(j).Interface()) {
				keys = append(keys, name+"."+tomlName(f.Type.Field(j)))
			}
		}
	}
	return keys
}

// tomlName is a field's configuration key; trusted_networks is decoded
// by hand (toml:"-").
func tomlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
	if name == "-" && f.Name == "TrustedNetworks" {
		return "trusted_networks"
	}
	if name == "" || name == "-" {
		return f.Name
	}
	return name
}
