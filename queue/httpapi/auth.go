package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/time/rate"
)

// Key is one API key as the server knows it: its name, for logs and the
// stored message's User, and the SHA-256 of its secret. The secret itself
// is never stored: it has 256 bits of entropy, so a plain hash cannot be
// reversed by guessing.
type Key struct {
	Name string
	Hash [sha256.Size]byte
	// IgnoreSuppressions makes every message posted with this key skip
	// the suppression list, as the request field ignore_suppressions does.
	IgnoreSuppressions bool
}

// keyPrefix marks Outbox API secrets, so that secret scanners and people
// recognise one.
const keyPrefix = "obx_"

// NewKey returns a fresh random secret and its hash, hex-encoded as the
// configuration stores it.
func NewKey() (secret, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("httpapi: random key: %w", err)
	}
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(b[:])
	h := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(h[:]), nil
}

// ParseKeyHash decodes a hex SHA-256 hash as NewKey returns it.
func ParseKeyHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return h, fmt.Errorf("not a hex SHA-256 hash (64 hex digits)")
	}
	copy(h[:], b)
	return h, nil
}

// keyring holds the keys, replaced whole on reload.
type keyring struct {
	mu   sync.RWMutex
	keys []Key
}

func newKeyring(keys []Key) *keyring { return &keyring{keys: keys} }

func (k *keyring) set(keys []Key) {
	k.mu.Lock()
	k.keys = keys
	k.mu.Unlock()
}

// match returns the key whose hash is the secret's. Every key is
// compared, in constant time, so the time taken reveals nothing.
func (k *keyring) match(secret string) (Key, bool) {
	h := sha256.Sum256([]byte(secret))
	k.mu.RLock()
	defer k.mu.RUnlock()
	var match Key
	found := 0
	for _, key := range k.keys {
		if subtle.ConstantTimeCompare(h[:], key.Hash[:]) == 1 {
			match, found = key, 1
		}
	}
	return match, found == 1
}

// limiters are the token buckets, one per client identity.
type limiters struct {
	limit rate.Limit
	burst int
	mu    sync.Mutex
	by    map[string]*rate.Limiter
}

func newLimiters(limit rate.Limit, burst int) *limiters {
	if burst <= 0 {
		burst = max(1, int(math.Ceil(float64(limit))))
	}
	return &limiters{limit: limit, burst: burst, by: map[string]*rate.Limiter{}}
}

func (l *limiters) get(who string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.by[who]
	if !ok {
		lim = rate.NewLimiter(l.limit, l.burst)
		l.by[who] = lim
	}
	return lim
}

type clientKey struct{}

// caller is who made a request: its identity ("key:NAME", or
// loopbackClient) and its key's settings (zero for the loopback).
type caller struct {
	who string
	key Key
}

// client is who made a request: "key:NAME", or loopbackClient for a
// trusted loopback client.
func client(ctx context.Context) string {
	c, _ := ctx.Value(clientKey{}).(caller)
	return c.who
}

// clientKeyOf is the key a request was made with; zero for the loopback.
func clientKeyOf(ctx context.Context) Key {
	c, _ := ctx.Value(clientKey{}).(caller)
	return c.key
}

// loopbackClient is the rate-limit identity of the trusted loopback.
const loopbackClient = "loopback"

// authorized lets a request through once its client is known and within
// its rate.
func (s *Server) authorized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		who, key, status, msg := s.authenticate(r)
		if status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="outbox"`)
			}
			writeError(w, status, "authorization", msg)
			return
		}
		if s.rates != nil {
			rl := s.rates.get(who)
			if res := rl.Reserve(); res.Delay() > 0 {
				res.Cancel()
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(1/float64(rl.Limit())))))
				writeError(w, http.StatusTooManyRequests, "", "rate limit exceeded; retry later")
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, caller{who: who, key: key})))
	})
}

// authenticate names the client, or returns the status refusing it.
// A key that is presented is checked even from loopback, so a client that
// sends a wrong one learns it.
func (s *Server) authenticate(r *http.Request) (who string, key Key, status int, msg string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		if s.opts.TrustLoopback && isLoopback(r.RemoteAddr) {
			return loopbackClient, Key{}, 0, ""
		}
		return "", Key{}, http.StatusUnauthorized, "an API key is required: Authorization: Bearer KEY"
	}
	scheme, secret, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return "", Key{}, http.StatusUnauthorized, "the Authorization header must be \"Bearer KEY\""
	}
	key, ok = s.keys.match(strings.TrimSpace(secret))
	if !ok {
		return "", Key{}, http.StatusForbidden, "the API key is not valid"
	}
	return "key:" + key.Name, key, 0, ""
}

func isLoopback(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		return false
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
