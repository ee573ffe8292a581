package tlsrpt

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
)

// ErrNoRecord: the TXT records hold no TLSRPT record (RFC 8460 §3: the
// domain does not want reports).
var ErrNoRecord = errors.New("tlsrpt: no TLSRPT record")

// ParseRecord finds the TLSRPT policy among the TXT strings of
// "_smtp._tls.DOMAIN" (RFC 8460 §3) and returns its rua URIs, mailto: and
// https: only (others are ignored, §3: "the sender ... MAY ignore").
// More than one TLSRPT record is an error (§3: none is used then).
func ParseRecord(txts []string) ([]*url.URL, error) {
	var found []string
	for _, t := range txts {
		if strings.HasPrefix(t, "v=TLSRPTv1") {
			rest := strings.TrimPrefix(t, "v=TLSRPTv1")
			if rest == "" || rest[0] == ';' || rest[0] == ' ' {
				found = append(found, rest)
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, ErrNoRecord
	case 1:
	default:
		return nil, fmt.Errorf("tlsrpt: %d TLSRPT records; RFC 8460 §3 says to use none", len(found))
	}
	var out []*url.URL
	for _, field := range strings.Split(found[0], ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok || strings.TrimSpace(k) != "rua" {
			continue
		}
		for _, u := range strings.Split(v, ",") {
			parsed, err := url.Parse(strings.TrimSpace(u))
			if err != nil {
				continue
			}
			switch parsed.Scheme {
			case "mailto":
				if _, err := mail.ParseAddress(parsed.Opaque); err == nil {
					out = append(out, parsed)
				}
			case "https":
				out = append(out, parsed)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("tlsrpt: TLSRPT record has no usable rua (mailto: or https:)")
	}
	return out, nil
}
