package dkim

import "sync/atomic"

// Holder is the current Keys, swappable while the daemon runs (a
// configuration reload). Its zero value holds no keys: nothing is signed.
// Safe for concurrent use.
type Holder struct {
	p atomic.Pointer[Keys]
}

// Load returns the current keys; nil when none were stored.
func (h *Holder) Load() *Keys { return h.p.Load() }

// Store replaces the keys; messages already being signed keep the keys
// they started with. nil turns signing off.
func (h *Holder) Store(k *Keys) { h.p.Store(k) }

// Sign is Keys.Sign on the current keys.
func (h *Holder) Sign(from string, fields []string) (*Signing, error) {
	return h.p.Load().Sign(from, fields)
}
