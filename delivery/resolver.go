package delivery

import (
	"context"
	"errors"
	"net"

	"github.com/outbox-mta/outbox/mxresolve"
)

// Host is one mail exchanger of a domain, in the order to try it.
type Host = mxresolve.Host

// Resolver finds the mail exchangers of a domain, sorted by preference with
// equal preferences shuffled (RFC 5321 §5.1), each with its addresses in the
// order to try them. Every host returned is tried: the resolver decides how
// many (mxresolve.Resolver.MaxHosts). *mxresolve.Resolver satisfies it.
//
// Errors are classified with errors.As against *mxresolve.Error: a
// permanent one (NXDOMAIN, null MX of RFC 7505) bounces every recipient
// without any connection; any other error defers them.
type Resolver interface {
	Lookup(ctx context.Context, domain string) ([]Host, error)
}

var _ Resolver = (*mxresolve.Resolver)(nil)

// lookupReply turns a Resolver error into the reply recorded for every
// recipient and whether it is permanent.
func lookupReply(err error) (Reply, bool) {
	var me *mxresolve.Error
	if errors.As(err, &me) {
		enh := me.Enhanced
		if enh == "" {
			enh = "4.4.3"
			if me.Permanent {
				enh = "5.1.2"
			}
		}
		return Reply{Enhanced: enh, Text: me.Error()}, me.Permanent
	}
	// Unclassified: RFC 3463 4.4.3, directory server failure.
	return Reply{Enhanced: "4.4.3", Text: "MX lookup failed: " + err.Error()}, false
}

// Dialer opens TCP connections. *net.Dialer satisfies it; tests redirect
// addresses to their loopback servers with their own.
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}
