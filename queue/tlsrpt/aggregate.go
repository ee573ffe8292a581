package tlsrpt

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Result is the TLS outcome of one session with an MX host, as RFC 8460
// counts it.
type Result struct {
	// Policy applied: Type is PolicySTS, PolicyTLSA or PolicyNotFound;
	// Domain is the policy domain (the recipient domain).
	Policy Policy
	// Failure is the RFC 8460 §4.3 result type; "" for a success.
	Failure string
	// MXHost, ReceivingIP and SendingIP identify the session of a failure.
	MXHost, ReceivingIP, SendingIP string
	// Detail says what failed (additional-information).
	Detail string
}

// aggregate is what the spool keeps per day and policy domain: the
// report's policies with their counts so far.
type aggregate struct {
	Policies []PolicyResult `json:"policies"`
}

// maxFailureKinds bounds the failure-details of one policy per day, so a
// destination failing in many ways cannot grow a spool record without
// limit; further kinds are counted in the summary only.
const maxFailureKinds = 100

// merge adds rs (all of one policy domain) to the stored aggregate old.
func merge(old []byte, rs []Result) ([]byte, error) {
	var a aggregate
	if old != nil {
		if err := json.Unmarshal(old, &a); err != nil {
			return nil, fmt.Errorf("tlsrpt: stored aggregate: %w", err)
		}
	}
	for _, r := range rs {
		a.add(r)
	}
	return json.Marshal(&a)
}

func (a *aggregate) add(r Result) {
	i := slices.IndexFunc(a.Policies, func(p PolicyResult) bool { return samePolicy(p.Policy, r.Policy) })
	if i < 0 {
		a.Policies = append(a.Policies, PolicyResult{Policy: r.Policy})
		i = len(a.Policies) - 1
	}
	p := &a.Policies[i]
	if r.Failure == "" {
		p.Summary.Successful++
		return
	}
	p.Summary.Failed++
	j := slices.IndexFunc(p.FailureDetails, func(f FailureDetail) bool {
		return f.ResultType == r.Failure && f.ReceivingMXHostname == r.MXHost &&
			f.ReceivingIP == r.ReceivingIP && f.SendingMTAIP == r.SendingIP
	})
	switch {
	case j >= 0:
		p.FailureDetails[j].FailedSessionCount++
	case len(p.FailureDetails) < maxFailureKinds:
		p.FailureDetails = append(p.FailureDetails, FailureDetail{
			ResultType: r.Failure, SendingMTAIP: r.SendingIP, ReceivingMXHostname: r.MXHost,
			ReceivingIP: r.ReceivingIP, FailedSessionCount: 1, AdditionalInfo: r.Detail,
		})
	}
}

func samePolicy(a, b Policy) bool {
	return a.Type == b.Type && a.Domain == b.Domain && slices.Equal(a.String, b.String) && slices.Equal(a.MXHost, b.MXHost)
}
