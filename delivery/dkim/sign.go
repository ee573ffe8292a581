package dkim

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Signing is one message being signed: the listener writes the message,
// exactly as stored, then calls Finish (or Abort when the message is not
// accepted). It hashes as the bytes arrive (canon.go): one body hash for
// every key of the message, no goroutine, no copy of the body. Not safe
// for concurrent use.
type Signing struct {
	domain string
	keys   []Key
	algs   []string // "rsa" or "ed25519", per key
	hkeys  []string // the h= list
	now    time.Time
	expiry time.Time // x=; zero: none
	head   headerAcc
	body   bodyCanon
	// eoh is true once the empty line that ends the header was written;
	// tail holds the last bytes written until then, to find it across
	// writes.
	eoh    bool
	tail   [3]byte
	tailN  int
	closed bool
}

// Sign starts signing a message whose From header field has the value from
// and whose header has the fields named in fields (in any case, once per
// occurrence). It returns nil, nil when no key applies: the message leaves
// unsigned.
func (k *Keys) Sign(from string, fields []string) (*Signing, error) {
	d := k.For(from)
	if d == nil {
		return nil, nil
	}
	s := &Signing{domain: d.Name, keys: d.Keys, algs: d.algs, hkeys: headerKeys(d.Headers, fields), now: k.now()}
	if d.Expiry > 0 {
		s.expiry = s.now.Add(d.Expiry)
	}
	s.body.h = sha256.New()
	return s, nil
}

// headerKeys is the h= list: each wanted field as often as the message
// has it, in the configured order, plus one more From (over-signing,
// RFC 6376 §8.15). The listed instances are signed bottom-up (pick), and
// an h= entry with no instance left signs "no such field" (§5.4.2).
func headerKeys(want, present []string) []string {
	count := make(map[string]int, len(present))
	for _, f := range present {
		count[strings.ToLower(f)]++
	}
	var keys []string
	hasFrom := false
	for _, w := range want {
		lw := strings.ToLower(w)
		if lw == "from" {
			if hasFrom {
				continue
			}
			hasFrom = true
		}
		n := count[lw]
		count[lw] = 0 // a field listed twice in the configuration counts once
		for range n {
			keys = append(keys, w)
		}
	}
	return append(keys, "From")
}

// Write feeds message bytes to every signer.
func (s *Signing) Write(p []byte) (int, error) {
	if s.closed {
		return 0, errors.New("dkim: write after Finish or Abort")
	}
	if !s.eoh {
		s.scanHeaderEnd(p)
	}
	rest := p
	if !s.head.done {
		rest = s.head.write(p)
	}
	if len(rest) > 0 {
		s.body.write(rest)
	}
	return len(p), nil
}

// scanHeaderEnd looks for the empty line that ends the header: CRLF CRLF,
// or a CRLF at the very start (a message with no header field).
func (s *Signing) scanHeaderEnd(p []byte) {
	for _, c := range p {
		if s.tailN < len(s.tail) {
			s.tail[s.tailN] = c
			s.tailN++
		} else {
			s.tail = [3]byte{s.tail[1], s.tail[2], c}
		}
		switch {
		case s.tailN == 2 && s.tail[0] == '\r' && s.tail[1] == '\n':
			s.eoh = true
		case s.tailN == 3 && c == '\n' && s.tail[1] == '\r' && s.tail[0] == '\n':
			s.eoh = true // "...\n" then "\r\n": the last 4 bytes are CRLF CRLF
		}
		if s.eoh {
			return
		}
	}
}

// Finish completes the signatures. It returns the DKIM-Signature header
// fields to put in front of the message (CRLF-terminated, folded), and one
// label per signature for operators ("example.com/sel1 (ed25519-sha256)").
// A message that ended inside its header (no empty line) cannot be signed
// (nor verified): it is left unsigned, with nil results.
func (s *Signing) Finish() (prefix []byte, labels []string, err error) {
	if s.closed {
		return nil, nil, errors.New("dkim: Finish after Finish or Abort")
	}
	s.closed = true
	if !s.eoh {
		return nil, nil, nil
	}
	s.body.close()
	bh := base64.StdEncoding.EncodeToString(s.body.h.Sum(nil))
	signed := pick(s.head.fields(), s.hkeys)
	var b strings.Builder
	for i, key := range s.keys {
		f, err := s.signature(key, s.algs[i], bh, signed)
		if err != nil {
			return nil, nil, fmt.Errorf("dkim: sign %s/%s: %w", s.domain, key.Selector, err)
		}
		b.WriteString(f)
		labels = append(labels, s.domain+"/"+key.Selector+" ("+s.algs[i]+"-sha256)")
	}
	return []byte(b.String()), labels, nil
}

// Abort drops a message that will not be stored. Safe to call after
// Finish (no-op) and more than once.
func (s *Signing) Abort() { s.closed = true }
