package dkim

import (
	"crypto"
	"errors"
	"fmt"
	"strings"

	msgauth "github.com/emersion/go-msgauth/dkim"
)

// Signing is one message being signed: the listener writes the message,
// exactly as stored, then calls Finish (or Abort when the message is not
// accepted). Not safe for concurrent use.
type Signing struct {
	signers []*msgauth.Signer
	labels  []string
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
	opts := msgauth.SignOptions{
		Domain:                 d.Name,
		HeaderCanonicalization: msgauth.CanonicalizationRelaxed,
		BodyCanonicalization:   msgauth.CanonicalizationRelaxed,
		Hash:                   crypto.SHA256,
		HeaderKeys:             headerKeys(d.Headers, fields),
	}
	if d.Expiry > 0 {
		opts.Expiration = k.now().Add(d.Expiry)
	}
	s := &Signing{}
	for _, key := range d.Keys {
		o := opts
		o.Selector, o.Signer = key.Selector, key.Signer
		ms, err := msgauth.NewSigner(&o)
		if err != nil {
			s.Abort()
			return nil, fmt.Errorf("dkim: %s/%s: %w", d.Name, key.Selector, err)
		}
		alg, _ := Algorithm(key.Signer)
		s.signers = append(s.signers, ms)
		s.labels = append(s.labels, d.Name+"/"+key.Selector+" ("+alg+"-sha256)")
	}
	return s, nil
}

// headerKeys is the h= list: each wanted field as often as the message
// has it, in the configured order, plus one more From (over-signing,
// RFC 6376 §8.15). go-msgauth signs the listed instances bottom-up, and
// an h= entry with no instance left signs "no such field".
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
	for _, ms := range s.signers {
		if _, err := ms.Write(p); err != nil {
			return 0, fmt.Errorf("dkim: sign: %w", err)
		}
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
	if !s.eoh {
		s.Abort()
		return nil, nil, nil
	}
	s.closed = true
	var b strings.Builder
	for i, ms := range s.signers {
		if err := ms.Close(); err != nil {
			for _, rest := range s.signers[i+1:] {
				_ = rest.Close()
			}
			return nil, nil, fmt.Errorf("dkim: sign %s: %w", s.labels[i], err)
		}
		b.WriteString(ms.Signature())
	}
	return []byte(b.String()), s.labels, nil
}

// Abort releases the signers of a message that will not be stored. Safe
// to call after Finish (no-op) and more than once.
func (s *Signing) Abort() {
	if s.closed {
		return
	}
	s.closed = true
	for _, ms := range s.signers {
		_ = ms.Close()
	}
}
