package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"

	"github.com/outbox-mta/outbox/config"
	"github.com/outbox-mta/outbox/queue/admin"
	"github.com/outbox-mta/outbox/queue/webhook"
	"github.com/outbox-mta/outbox/store"
)

var (
	_ webhook.Cursors = (*store.DB)(nil)
	_ webhook.Log     = eventLog{}
	_ admin.Webhooks  = adminWebhooks{}
)

// newWebhooks builds the webhook dispatcher of cfg's [[webhooks]]; nil
// when there is none.
func newWebhooks(cfg *config.Config, db *store.DB, log *slog.Logger) (*webhook.Dispatcher, error) {
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

// eventLog is the store's event log as the dispatcher reads it: each
// event with its JSON as kept, the shape of GET /v1/events.
type eventLog struct{ db *store.DB }

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
	db *store.DB
}

// adminWebhooksOf is nil (no operation target) without a dispatcher, not
// an interface holding a nil pointer.
func adminWebhooksOf(d *webhook.Dispatcher, db *store.DB) admin.Webhooks {
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
