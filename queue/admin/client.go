package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/outbox-mta/outbox/store"
)

// maxResponseBytes bounds what the client reads from the daemon: a full
// page of messages with their histories is well under it.
const maxResponseBytes = 64 << 20

// Client calls the admin API of a running daemon over its Unix socket. Its
// methods mirror Queue; List adds the cursor of the next page.
type Client struct {
	path string
	hc   *http.Client
}

// NewClient returns a client for the daemon listening on socketPath. It
// connects lazily, on the first call.
func NewClient(socketPath string) *Client {
	c := &Client{path: socketPath}
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", socketPath)
			if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
				return nil, fmt.Errorf("%w: %w", ErrNotRunning, err)
			}
			return conn, err
		},
		MaxIdleConns:    1,
		IdleConnTimeout: 30 * time.Second,
	}}
	return c
}

// Close releases the client's idle connection.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// RemoteError is an error the daemon answered with. It matches
// store.ErrNotFound when the daemon reported an unknown message.
type RemoteError struct {
	Op         string // the operation: "list", "hold", ...
	StatusCode int    // the HTTP status
	Code       string // "not_found", "bad_request", "too_large", "internal"
	Message    string // the daemon's text
}

func (e *RemoteError) Error() string { return e.Message }

// Is makes errors.Is(err, store.ErrNotFound) hold for a 404 answer.
func (e *RemoteError) Is(target error) bool {
	return target == store.ErrNotFound && e.Code == codeNotFound
}

// List returns one page of messages matching f, and the cursor (f.After) of
// the next page, "" after the last. f.Limit 0 asks for DefaultPage.
func (c *Client) List(ctx context.Context, f store.Filter) ([]*store.Message, string, error) {
	var resp listResponse
	if err := c.call(ctx, "list", listRequestOf(f), &resp); err != nil {
		return nil, "", err
	}
	msgs := make([]*store.Message, len(resp.Messages))
	for i, m := range resp.Messages {
		msgs[i] = m.Store()
	}
	return msgs, resp.Next, nil
}

// Count returns how many messages f matches, every page together.
func (c *Client) Count(ctx context.Context, f store.Filter) (int, error) {
	req := listRequestOf(f)
	req.After, req.Limit, req.Total = "", 1, true
	var resp listResponse
	if err := c.call(ctx, "list", req, &resp); err != nil {
		return 0, err
	}
	if resp.Total == nil {
		return 0, errors.New("admin list: the daemon did not count (is it older than this CLI?)")
	}
	return *resp.Total, nil
}

func listRequestOf(f store.Filter) *listRequest {
	req := &listRequest{Domain: f.Domain, After: f.After, Limit: f.Limit, Done: f.Done,
		Sender: f.Sender, Recipient: f.Recipient, ReceivedBefore: f.ReceivedBefore, ReceivedAfter: f.ReceivedAfter}
	if f.State != 0 {
		req.State = f.State.String()
	}
	return req
}

// Get returns one message.
func (c *Client) Get(ctx context.Context, id string) (*store.Message, error) {
	var resp messageResponse
	if err := c.call(ctx, "get", &idRequest{ID: id}, &resp); err != nil {
		return nil, err
	}
	return resp.Message.Store(), nil
}

// Headers returns the raw header block of a message's body.
func (c *Client) Headers(ctx context.Context, id string) (string, error) {
	var resp headersResponse
	if err := c.call(ctx, "headers", &idRequest{ID: id}, &resp); err != nil {
		return "", err
	}
	return resp.Headers, nil
}

// Flush makes the pending recipients of one message due now.
func (c *Client) Flush(ctx context.Context, id string) error {
	return c.call(ctx, "flush", &flushRequest{ID: id}, &flushResponse{})
}

// FlushDomain makes every pending recipient in domain due now and returns
// the number of messages affected.
func (c *Client) FlushDomain(ctx context.Context, domain string) (int, error) {
	var resp flushResponse
	err := c.call(ctx, "flush", &flushRequest{Domain: domain}, &resp)
	return resp.Flushed, err
}

// FlushAll makes every pending recipient due now and returns the number of
// messages affected.
func (c *Client) FlushAll(ctx context.Context) (int, error) {
	var resp flushResponse
	err := c.call(ctx, "flush", &flushRequest{All: true}, &resp)
	return resp.Flushed, err
}

// Hold stops delivery attempts for a message.
func (c *Client) Hold(ctx context.Context, id string) error {
	return c.call(ctx, "hold", &idRequest{ID: id}, &struct{}{})
}

// Release resumes delivery of a held message.
func (c *Client) Release(ctx context.Context, id string) error {
	return c.call(ctx, "release", &idRequest{ID: id}, &struct{}{})
}

// Delete removes a message from the queue.
func (c *Client) Delete(ctx context.Context, id string) error {
	return c.call(ctx, "delete", &idRequest{ID: id}, &struct{}{})
}

// Bulk runs one operation on a selection of messages in one request and
// returns how many messages it matched (dry run) or acted on.
func (c *Client) Bulk(ctx context.Context, req BulkRequest) (int, error) {
	var resp BulkResponse
	err := c.call(ctx, "bulk", &req, &resp)
	return resp.Messages, err
}

// Bounces returns the bounce log from since on (everything for the zero
// time), oldest first.
func (c *Client) Bounces(ctx context.Context, since time.Time) ([]store.Bounce, error) {
	var resp bouncesResponse
	if err := c.call(ctx, "bounces", &bouncesRequest{Since: since}, &resp); err != nil {
		return nil, err
	}
	bs := make([]store.Bounce, len(resp.Bounces))
	for i, b := range resp.Bounces {
		bs[i] = b.Store()
	}
	return bs, nil
}

// Quarantined lists the messages set aside as unreadable.
func (c *Client) Quarantined(ctx context.Context) ([]Quarantined, error) {
	var resp quarantinedResponse
	err := c.call(ctx, "quarantined", &quarantinedRequest{}, &resp)
	return resp.Quarantined, err
}

// Stats counts the spool by recipient state and destination domain.
func (c *Client) Stats(ctx context.Context) (Stats, error) {
	var resp Stats
	err := c.call(ctx, "stats", &statsRequest{}, &resp)
	return resp, err
}

// StatsAges is Stats with the table of destination domains by age.
func (c *Client) StatsAges(ctx context.Context) (Stats, error) {
	var resp Stats
	err := c.call(ctx, "stats", &statsRequest{Ages: true}, &resp)
	return resp, err
}

// Cat opens the stored message id as it is sent, prefix and body. The
// reader fails with io.ErrUnexpectedEOF if the daemon's answer stops short.
func (c *Client) Cat(ctx context.Context, id string) (io.ReadCloser, error) {
	res, err := c.do(ctx, "cat", &idRequest{ID: id})
	if err != nil {
		return nil, err
	}
	return res.Body, nil
}

// call posts req to /v1/op and decodes a 200 answer into resp, or the error
// answer into a *RemoteError.
func (c *Client) call(ctx context.Context, op string, req, resp any) error {
	res, err := c.do(ctx, op, req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(io.LimitReader(res.Body, maxResponseBytes))
	if err := dec.Decode(resp); err != nil {
		return fmt.Errorf("admin %s: decoding answer: %w", op, err)
	}
	return nil
}

// do posts req to /v1/op and returns a 200 answer, whose body the caller
// closes; any other answer becomes a *RemoteError.
func (c *Client) do(ctx context.Context, op string, req any) (*http.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", op, err)
	}
	// The host is a placeholder: the transport always dials the socket.
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://outbox/v1/"+op, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", op, err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	res, err := c.hc.Do(hreq)
	if err != nil {
		if errors.Is(err, ErrNotRunning) {
			return nil, fmt.Errorf("%w (no admin socket at %s)", ErrNotRunning, c.path)
		}
		if errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("admin socket %s: permission denied (run as the daemon's user or a member of admin.group): %w", c.path, err)
		}
		return nil, fmt.Errorf("admin %s: %w", op, err)
	}
	if res.StatusCode == http.StatusOK {
		return res, nil
	}
	defer res.Body.Close()
	var e errorResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, maxResponseBytes)).Decode(&e); err != nil || e.Error == "" {
		e.Error = fmt.Sprintf("admin %s: daemon answered %s", op, res.Status)
	}
	return nil, &RemoteError{Op: op, StatusCode: res.StatusCode, Code: e.Code, Message: e.Error}
}
