package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"time"
)

// MaxPolicySize bounds the body of a policy fetch: 64 KiB, as RFC 8461
// §3.3 suggests.
const MaxPolicySize = 64 << 10

// DefaultTimeout bounds one policy fetch: connect, TLS and body. RFC 8461
// §3.3 asks for a timeout between one and five minutes for senders that
// fetch out of band; a fetch made while delivering waits less.
const DefaultTimeout = 30 * time.Second

// errRedirect refuses HTTP redirects (RFC 8461 §3.3: "MUST NOT follow
// redirects").
var errRedirect = errors.New("redirects are not followed (RFC 8461 §3.3)")

// fetcher fetches policies over HTTPS.
type fetcher struct {
	client *http.Client
}

func newFetcher(roots *x509.CertPool, dial func(ctx context.Context, network, addr string) (net.Conn, error), timeout time.Duration) *fetcher {
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	tr := &http.Transport{
		DialContext:           dial,
		TLSClientConfig:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          4,
		IdleConnTimeout:       30 * time.Second,
		DisableCompression:    true,
	}
	return &fetcher{client: &http.Client{
		Transport:     tr,
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return errRedirect },
	}}
}

// fetch returns the policy text of domain, or an error. The URL's host is
// "mta-sts." + domain, which the server's certificate must carry.
func (f *fetcher) fetch(ctx context.Context, domain string) (string, error) {
	url := "https://mta-sts." + domain + "/.well-known/mta-sts.txt"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %s", url, resp.Status)
	}
	// RFC 8461 §3.2: the media type is "text/plain", parameters allowed.
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "text/plain" {
		return "", fmt.Errorf("GET %s: media type %q, want text/plain", url, resp.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if len(body) > MaxPolicySize {
		return "", fmt.Errorf("GET %s: policy larger than %d bytes", url, MaxPolicySize)
	}
	return string(body), nil
}

func (f *fetcher) close() { f.client.CloseIdleConnections() }
