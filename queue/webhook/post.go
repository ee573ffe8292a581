package webhook

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// userAgent names the sender to receivers.
const userAgent = "Outbox-Webhook/1"

// newClient is the HTTP client of every endpoint. It never follows a
// redirect (a 3xx is a failure the operator must fix in the URL: a
// signed request is not re-sent to a host nobody configured), and bounds
// each step; Endpoint.Timeout bounds the whole request.
func newClient(tlsConf *tls.Config) *http.Client {
	if tlsConf == nil {
		tlsConf = &tls.Config{}
	}
	tlsConf = tlsConf.Clone()
	tlsConf.MinVersion = max(tlsConf.MinVersion, tls.VersionTLS12)
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                  http.ProxyFromEnvironment,
			DialContext:            (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:        tlsConf,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxIdleConnsPerHost:    2,
			IdleConnTimeout:        90 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
			ForceAttemptHTTP2:      true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// batchType is the "type" of every request's payload.
const batchType = "outbox.events"

// encodeBatch lays out a request's JSON in the payload shape the Standard
// Webhooks convention recommends (type, timestamp, data):
// {"type":"outbox.events","timestamp":"...","data":{"events":[...]}}. The
// events' JSON comes from the log as is (valid: Log's contract), written
// out without being parsed again.
func encodeBatch(batch []Event, now time.Time) []byte {
	n := 96
	for _, e := range batch {
		n += len(e.JSON) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"type":"`+batchType+`","timestamp":"`...)
	b = now.UTC().Truncate(time.Second).AppendFormat(b, time.RFC3339)
	b = append(b, `","data":{"events":[`...)
	for i, e := range batch {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, e.JSON...)
	}
	return append(b, "]}}"...)
}

// ReplyError is a request the endpoint answered with a status other than
// 2xx.
type ReplyError struct {
	Status int
	Detail string // the reply's start, or where a redirect pointed
}

func (e *ReplyError) Error() string {
	if e.Detail == "" {
		return "HTTP " + strconv.Itoa(e.Status)
	}
	return "HTTP " + strconv.Itoa(e.Status) + ": " + e.Detail
}

// post sends one signed request; nil means a 2xx.
func (w *worker) post(ctx context.Context, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, w.ep.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.ep.URL.String(), bytes.NewReader(body))
	if err != nil {
		return err
	}
	ts := w.d.opts.Clock.Now()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set(HeaderID, id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set(HeaderSignature, w.ep.Secret.Sign(id, ts, body))
	w.mu.Lock()
	w.requests++
	w.mu.Unlock()
	start := time.Now()
	resp, err := w.d.client.Do(req)
	if err != nil {
		return describe(err, w.ep.Timeout)
	}
	defer resp.Body.Close()
	head, over, rerr := readReply(resp.Body, w.d.opts.MaxReply)
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		if over {
			w.log.Warn("webhook reply larger than the limit: the rest was not read", "id", id, "limit", w.d.opts.MaxReply)
		}
		if rerr != nil {
			w.log.Warn("webhook reply cut short (the status was a success)", "id", id, "status", code, "err", describe(rerr, w.ep.Timeout))
		}
		w.log.Debug("webhook delivered", "id", id, "status", code, "duration", time.Since(start))
		return nil
	case code >= 300 && code < 400:
		return &ReplyError{Status: code, Detail: fmt.Sprintf("redirect to %q not followed (configure the final URL)", redacted(resp.Header.Get("Location")))}
	default:
		return &ReplyError{Status: code, Detail: head}
	}
}

// replyHead is how much of a failed reply a log shows.
const replyHead = 200

// readReply drains up to limit bytes of r (so the connection can be
// reused) and returns its printable start; over reports a reply larger
// than limit, whose rest is left unread and its connection closed.
func readReply(r io.Reader, limit int64) (head string, over bool, err error) {
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(r, limit+1))
	over = n > limit
	b := buf.Bytes()[:min(buf.Len(), replyHead)]
	for len(b) > 0 && !utf8.Valid(b) {
		b = b[:len(b)-1]
	}
	head = strings.Join(strings.Fields(string(b)), " ")
	if buf.Len() > replyHead {
		head += " ..."
	}
	return head, over, err
}

// describe turns a transport error into a sentence naming the cause:
// timeout, TLS, refused connection; without the URL, which the log line
// carries with its password masked.
func describe(err error, timeout time.Duration) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var (
		verr  *tls.CertificateVerificationError
		uaerr x509.UnknownAuthorityError
		hnerr x509.HostnameError
		cierr x509.CertificateInvalidError
		rherr tls.RecordHeaderError
		aerr  tls.AlertError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no complete answer within %s (timeout): %w", timeout, err)
	case errors.As(err, &verr), errors.As(err, &uaerr), errors.As(err, &hnerr), errors.As(err, &cierr):
		return fmt.Errorf("TLS: the endpoint's certificate is not trusted: %w", err)
	case errors.As(err, &rherr):
		return fmt.Errorf("TLS: the endpoint does not speak TLS on this port (use http:// or the TLS port): %w", err)
	case errors.As(err, &aerr):
		return fmt.Errorf("TLS: the endpoint refused the handshake: %w", err)
	}
	if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		// net/http's own sentence for a TLS record header that reads as
		// HTTP; it returns no typed error for it.
		return fmt.Errorf("TLS: the endpoint does not speak TLS on this port (use http:// or the TLS port): %w", err)
	}
	var nerr net.Error
	if errors.As(err, &nerr) && nerr.Timeout() {
		return fmt.Errorf("no complete answer within %s (timeout): %w", timeout, err)
	}
	return err
}

// redacted masks a password in a URL taken from a reply.
func redacted(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Redacted()
}
