package dnstest

import (
	"net"
	"strings"

	"github.com/miekg/dns"
)

// maxChain bounds the CNAME chain the server follows for one answer.
const maxChain = 8

// ServeDNS answers one query; it makes Server a dns.Handler.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	if len(req.Question) != 1 {
		m := new(dns.Msg)
		m.SetRcode(req, dns.RcodeFormatError)
		w.WriteMsg(m) //nolint:errcheck // the client will time out
		return
	}
	q := req.Question[0]
	network := "tcp"
	if _, ok := w.RemoteAddr().(*net.UDPAddr); ok {
		network = "udp"
	}

	s.mu.Lock()
	s.queries = append(s.queries, Query{Name: canonical(q.Name), Type: q.Qtype, Net: network})
	held := s.held[canonical(q.Name)]
	s.mu.Unlock()
	if held != nil {
		<-held
	}
	s.mu.Lock()
	m, drop := s.answer(req, q, network)
	if !drop {
		s.markValidated(req, m, q.Name)
	}
	s.mu.Unlock()

	if drop {
		return
	}
	w.WriteMsg(m) //nolint:errcheck // the client will time out
}

// answer builds the reply to q; drop reports that none must be sent. The
// caller holds s.mu.
func (s *Server) answer(req *dns.Msg, q dns.Question, network string) (m *dns.Msg, drop bool) {
	m = new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	m.RecursionAvailable = true

	name := canonical(q.Name)
	for range maxChain {
		switch s.Behaviors[name] {
		case Drop:
			return nil, true
		case ServFail:
			m.Answer = nil
			m.Rcode = dns.RcodeServerFailure
			return m, false
		case Refused:
			m.Answer = nil
			m.Rcode = dns.RcodeRefused
			return m, false
		case NXDomain:
			m.Rcode = dns.RcodeNameError
			s.addSOA(m, name)
			return m, false
		case Truncate:
			if network == "udp" {
				m.Answer = nil
				m.Truncated = true
				return m, false
			}
		}

		rrs := s.Zone[name]
		var cname *dns.CNAME
		found := false
		for _, rr := range rrs {
			if rr.Header().Rrtype == q.Qtype || q.Qtype == dns.TypeANY {
				m.Answer = append(m.Answer, dns.Copy(rr))
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		switch {
		case found:
			return m, false
		case cname != nil:
			// Answer the chain as a recursive resolver does.
			m.Answer = append(m.Answer, dns.Copy(cname))
			if s.Behaviors[name] == CNAMEOnly {
				return m, false
			}
			name = canonical(cname.Target)
			continue
		case !s.exists(name):
			// RFC 6604: the RCODE speaks of the last name of the chain.
			m.Rcode = dns.RcodeNameError
		}
		s.addSOA(m, name)
		return m, false // NODATA, or NXDOMAIN
	}
	m.Answer = nil
	m.Rcode = dns.RcodeServerFailure // CNAME loop
	return m, false
}

// addSOA puts the SOA of the zone enclosing name, when the table has one,
// in the authority section of a negative answer, as RFC 2308 §3 requires
// of an authoritative server: resolvers cache the answer for its MINIMUM.
func (s *Server) addSOA(m *dns.Msg, name string) {
	for owner := name; ; {
		for _, rr := range s.Zone[owner] {
			if soa, ok := rr.(*dns.SOA); ok {
				m.Ns = append(m.Ns, dns.Copy(soa))
				return
			}
		}
		if owner == "." {
			return
		}
		if i := strings.IndexByte(owner, '.'); i >= 0 && i+1 < len(owner) {
			owner = owner[i+1:]
		} else {
			owner = "."
		}
	}
}

// exists reports whether name owns records or is an empty non-terminal
// (has names below it), which makes the difference between NODATA and
// NXDOMAIN (RFC 8020).
func (s *Server) exists(name string) bool {
	if len(s.Zone[name]) > 0 {
		return true
	}
	for owner := range s.Zone {
		if strings.HasSuffix(owner, "."+name) {
			return true
		}
	}
	return false
}

// markValidated sets AD on m as a validating resolver would (see
// Server.AD). The caller holds s.mu.
func (s *Server) markValidated(req, m *dns.Msg, name string) {
	asked := req.AuthenticatedData || (req.IsEdns0() != nil && req.IsEdns0().Do())
	ok := m.Rcode == dns.RcodeSuccess || m.Rcode == dns.RcodeNameError
	for n, v := range s.Insecure {
		if v && canonical(n) == canonical(name) {
			ok = false
		}
	}
	m.AuthenticatedData = s.AD && asked && ok
}
