package store

import "time"

// The rules of the suppression list, shared by every backend: each one
// supplies its list as a ListTx inside the transaction that records the
// outcome, and ApplyListings decides.

// ListTx is the suppression list within one write transaction. Addresses
// are normalised (NormalizeAddress).
type ListTx interface {
	// Entry returns addr's entry; false when it has none.
	Entry(addr string) (Suppression, bool, error)
	// Put adds or replaces s.Addr's entry.
	Put(s Suppression) error
	// Delete removes addr's entry; none is no error.
	Delete(addr string) error
	// Strikes is addr's count of consecutive listings (Listing.After).
	Strikes(addr string) (int, error)
	// SetStrikes sets it; 0 removes it.
	SetStrikes(addr string, n int) error
}

// PrepareSuppression is s as Suppress stores it: the address normalised
// (ErrBadAddress when it is none), no reason meaning ReasonManual, a zero
// Created meaning now.
func PrepareSuppression(s Suppression, now time.Time) (Suppression, error) {
	s.Addr = NormalizeAddress(s.Addr)
	if s.Addr == "" {
		return s, ErrBadAddress
	}
	if s.Reason == 0 {
		s.Reason = ReasonManual
	}
	if s.Created.IsZero() {
		s.Created = now
	}
	return s, nil
}

// ApplyListings carries out after.Suppress in tx, and resets the count of
// every address newly delivered in after, removing its automatic entry
// (it was reachable after all; a manual entry stays). An Update calls it
// with the record before and after its fn.
func ApplyListings(tx ListTx, before, after *Message, now time.Time) error {
	was := make(map[string]bool, len(before.Recipients))
	for _, r := range before.Recipients {
		if r.State == StateDelivered {
			was[r.Addr] = true
		}
	}
	for _, r := range after.Recipients {
		if r.State != StateDelivered || was[r.Addr] {
			continue
		}
		key := NormalizeAddress(r.Addr)
		if key == "" {
			continue
		}
		if err := tx.SetStrikes(key, 0); err != nil {
			return err
		}
		s, ok, err := tx.Entry(key)
		if ok && (err != nil || s.Reason != ReasonManual) {
			if err := tx.Delete(key); err != nil {
				return err
			}
		}
	}
	for i := range after.Suppress {
		if err := applyListing(tx, &after.Suppress[i], now); err != nil {
			return err
		}
	}
	return nil
}

// applyListing applies one Listing. A manual entry is never replaced by
// an automatic one: the operator's decision (and its expiry) stands.
func applyListing(tx ListTx, l *Listing, now time.Time) error {
	s := l.Suppression
	s.Addr = NormalizeAddress(s.Addr)
	if s.Addr == "" {
		return nil
	}
	if l.After > 1 {
		n, err := tx.Strikes(s.Addr)
		if err != nil {
			return err
		}
		if n+1 < l.After {
			return tx.SetStrikes(s.Addr, n+1)
		}
		if err := tx.SetStrikes(s.Addr, 0); err != nil {
			return err
		}
	}
	if old, ok, err := tx.Entry(s.Addr); ok && err == nil && old.Reason == ReasonManual {
		return nil
	}
	if s.Created.IsZero() {
		s.Created = now
	}
	return tx.Put(s)
}
