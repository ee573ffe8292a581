package dkim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/miekg/dns"
)

// Lookup asks the DNS server (ip:port; "" means the first nameserver of
// /etc/resolv.conf) for the TXT records at name, each the concatenation
// of its strings. NXDOMAIN and NODATA give no records and no error: that
// is the answer "missing". A record that is not TXT (a CNAME target's TXT
// is included) is skipped.
func Lookup(ctx context.Context, server, name string) ([]string, error) {
	if server == "" {
		cc, err := dns.ClientConfigFromFile("/etc/resolv.conf")
		if err != nil || len(cc.Servers) == 0 {
			return nil, fmt.Errorf("dkim: no DNS server: %v", err)
		}
		server = net.JoinHostPort(cc.Servers[0], cc.Port)
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeTXT)
	m.RecursionDesired = true
	c := &dns.Client{}
	resp, _, err := c.ExchangeContext(ctx, m, server)
	if err == nil && resp.Truncated {
		c.Net = "tcp"
		resp, _, err = c.ExchangeContext(ctx, m, server)
	}
	if err != nil {
		return nil, fmt.Errorf("dkim: TXT %s: %w", name, err)
	}
	switch resp.Rcode {
	case dns.RcodeSuccess:
	case dns.RcodeNameError:
		return nil, nil
	default:
		return nil, fmt.Errorf("dkim: TXT %s: %w", name, errors.New(dns.RcodeToString[resp.Rcode]))
	}
	var out []string
	for _, rr := range resp.Answer {
		if t, ok := rr.(*dns.TXT); ok {
			out = append(out, strings.Join(t.Txt, ""))
		}
	}
	return out, nil
}
