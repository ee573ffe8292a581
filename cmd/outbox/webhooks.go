package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/webhook"
	"github.com/outbox-mta/outbox/store"
	"github.com/outbox-mta/outbox/store/pgstore"
)

var (
	_ webhook.Cursors = (*store.DB)(nil)
	_ webhook.Log     = eventLog{}
	_ admin.Webhooks  = adminWebhooks{}
)

// newWebhooks builds the webhook dispatcher of cfg's [[webhooks]]; nil
// when there is none.
func newWebhooks(cfg *config.Config, db webhookSpool, log *slog.Logger) (*webhook.Dispatcher, error) {
	if len(cfg.Webhooks) == 0 {
		return nil, nil
	}
	eps := make([]webhook.Endpoint, 0, len(cfg.Webhooks))
	var errs []error
	for i, w := range cfg.Webhooks {
		u, err := url.Parse(w.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d].url: %w", i, err))
			continue
		}
		secret, err := webhook.ParseSecret(w.Secret)
		if err != nil {
			errs = append(errs, fmt.Errorf("webhooks[%d].secret: %w", i, err))
			continue
		}
		eps = append(eps, webhook.Endpoint{Name: w.Name, URL: u, Secret: secret, Types: w.Events,
			RetryFor: w.RetryFor.Duration, Timeout: w.Timeout.Duration,
			FirstRetry: w.FirstRetry.Duration, MaxRetry: w.MaxRetryInterval.Duration})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return webhook.New(webhook.Options{Endpoints: eps, Log: eventLog{db}, Cursors: db, Logger: log})
}

// webhookSpool is what webhooks keep in the spool and read from it; both
// backends satisfy it.
type webhookSpool interface {
	webhook.Cursors
	EventsJSON(ctx context.Context, after uint64, limit int) ([]store.EventJSON, error)
	EventsAfter(after uint64) <-chan struct{}
	LastEventSeq() uint64
}

var (
	_ webhookSpool = (*store.DB)(nil)
	_ webhookSpool = (*pgstore.DB)(nil)
)

// eventLog is the store's event log as the dispatcher reads it: each
// event with its JSON as kept, the shape of GET /v1/events.
type eventLog struct{ db webhookSpool }

func (l eventLog) Events(ctx context.Context, after uint64, limit int) ([]webhook.Event, error) {
	evs, err := l.db.EventsJSON(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	out := make([]webhook.Event, len(evs))
	for i, e := range evs {
		out[i] = webhook.Event{Seq: e.Seq, Type: string(e.Type), JSON: e.JSON}
	}
	return out, nil
}

func (l eventLog) Wait(ctx context.Context, after uint64) error {
	select {
	case <-l.db.EventsAfter(after):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// adminWebhooks is the dispatcher as the admin interface sees it.
type adminWebhooks struct {
	d  *webhook.Dispatcher
	db webhookSpool
}

// adminWebhooksOf is nil (no operation target) without a dispatcher, not
// an interface holding a nil pointer.
func adminWebhooksOf(d *webhook.Dispatcher, db webhookSpool) admin.Webhooks {
	if d == nil {
		return nil
	}
	return adminWebhooks{d: d, db: db}
}

func (a adminWebhooks) WebhookEndpoints(context.Context) ([]admin.WebhookEndpoint, error) {
	st := a.d.Status()
	out := make([]admin.WebhookEndpoint, len(st))
	for i, s := range st {
		out[i] = admin.WebhookEndpoint{Name: s.Name, URL: s.URL, Cursor: s.Cursor, Failed: s.Failed,
			FailingSince: s.FailingSince, LastError: s.LastError, NextAttempt: s.NextAttempt,
			Requests: s.Requests, Failures: s.Failures, Delivered: s.Delivered}
	}
	return out, nil
}

func (a adminWebhooks) RedeliverWebhooks(ctx context.Context, name string) ([]string, error) {
	names, err := a.d.Redeliver(ctx, name)
	if errors.Is(err, webhook.ErrUnknownEndpoint) {
		return nil, fmt.Errorf("%w: %q", admin.ErrNoEndpoint, name)
	}
	return names, err
}

func (a adminWebhooks) LastEventSeq() uint64 { return a.db.LastEventSeq() }

// webhookTakeover is how often a node of a shared spool that is not
// delivering webhooks tries to take over (a node that stops or dies
// releases them: its advisory lock goes with its connection).
const webhookTakeover = 5 * time.Second

// runWebhooks runs d until ctx ends. On a spool shared by several nodes
// (exclusive), one node at a time delivers, so an endpoint gets each
// event from one node; the others wait to take over.
func runWebhooks(ctx context.Context, db spool, d *webhook.Dispatcher, log *slog.Logger) {
	e := exclusive(db)
	if e == nil {
		d.Run(ctx)
		return
	}
	for ctx.Err() == nil {
		ran, err := e.Exclusive(ctx, "webhooks", d.Run)
		if ctx.Err() != nil {
			return
		}
		if err != nil && !ran {
			log.Warn("taking over webhook delivery", "component", "webhook", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(webhookTakeover):
		}
	}
}
