package tlspolicy

import "context"

// Chain asks each Source in order and returns the first Policy whose Type
// is not TypeNone, so that DANE (listed first) takes precedence over
// MTA-STS. A nil Source is skipped. An error of any Source ends the search:
// a validating resolver that cannot answer must not let delivery fall back
// to a weaker policy (RFC 7672 §2.2). With no Policy found, it returns the
// last TypeNone Policy seen, which may carry a Failure to record.
type Chain []Source

// Policy implements Source.
func (c Chain) Policy(ctx context.Context, domain string) (Policy, error) {
	var last Policy
	for _, s := range c {
		if s == nil {
			continue
		}
		p, err := s.Policy(ctx, domain)
		if err != nil {
			return Policy{}, err
		}
		if p.Type != TypeNone {
			return p, nil
		}
		if p.Failure != nil || p.Note != "" {
			last = p
		}
	}
	return last, nil
}
